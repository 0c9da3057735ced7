import { describe, expect, it } from 'vitest'
import { cpuSecondsOfStat, processCpuSeconds } from '../../scripts/proc-cpu.js'

describe('benchmarks: CPU time of a process from /proc', () => {
  it('reads utime + stime (fields 14 and 15) in ticks of 1/100 s', () => {
    const stat = '4242 (node) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 11 0 100 0 0'
    expect(cpuSecondsOfStat(stat)).toBeCloseTo(3.25, 10)
  })

  it('counts fields after the last parenthesis, so a name with spaces and parentheses does not shift them', () => {
    const stat = '7 (a (weird) name) R 1 7 7 0 -1 0 0 0 0 0 12 8 0 0 20 0 1 0 5 0 0'
    expect(cpuSecondsOfStat(stat)).toBeCloseTo(0.2, 10)
  })

  it('refuses a line that is not a stat line', () => {
    expect(() => cpuSecondsOfStat('no parenthesis here')).toThrow(/stat line/)
    expect(() => cpuSecondsOfStat('1 (x) S 1 2'), 'too short for fields 14 and 15').toThrow(/CPU times/)
  })

  it('grows for this very process as it burns CPU, and is 0 for a process that does not exist', async () => {
    const before = await processCpuSeconds(process.pid)
    // Burn CPU in slices until a tick (10 ms) shows, however loaded the machine is.
    let after = before
    for (let slice = 0; slice < 1_000 && after === before; slice++) {
      const until = performance.now() + 20
      let x = 0
      while (performance.now() < until) x += Math.sqrt(x + 1)
      after = await processCpuSeconds(process.pid)
    }
    expect(after).toBeGreaterThan(before)
    expect(await processCpuSeconds(2 ** 30)).toBe(0)
  })
})
