import { describe, expect, it } from 'vitest'
import { runFleet, withVerifyMemo } from '../../simulations/fleet/fleet.js'
import { fleetOptionsFor, runFleetScenario } from '../../simulations/scenarios/index.js'

const MiB = 1024 * 1024

describe('simulations: a rollout halted by its failure threshold', () => {
  it('1,000 devices, 10 % failing their install, threshold 5 % in the 10 % wave: the later waves never start', () => {
    const options = { scenario: 'halt', devices: 1_000, imageBytes: 8 * MiB, seed: 21 }
    const r = runFleetScenario(options)
    const d = r.result.details
    expect(d.stuck).toBe(false)
    expect(d.violations).toEqual([])
    expect(d.installFailures).toBe(100)
    // The ledger halted the release in the first wave, on its own failure reports.
    expect(d.rolloutHalt).toMatchObject({ wave: 0, percent: 10 })
    expect(d.rolloutHalt!.failures * 100).toBeGreaterThanOrEqual(5 * d.rolloutHalt!.targeted)
    // The run went past the last wave's opening, and no device outside the first wave fetched.
    const waves = fleetOptionsFor(options).waves!
    expect(fleetOptionsFor(options).runForMs!).toBeGreaterThan(waves[2]!.afterMs)
    let firstWaveFetched = 0
    for (const [i, bucket] of d.rolloutBucketOf.entries()) {
      const fetched = !Number.isNaN(d.firstFetchSeconds[i]!)
      if (bucket >= 1000)
        expect(fetched, `device ${i} (bucket ${bucket}) is outside the first wave`).toBe(false)
      else if (fetched) firstWaveFetched++
    }
    expect(firstWaveFetched).toBeGreaterThan(0)
  })

  it('without the threshold, the same failures do not stop the later waves (the control run)', () => {
    const options = fleetOptionsFor({ scenario: 'halt', devices: 300, imageBytes: 2 * MiB, seed: 21 })
    const waves = options.waves!.map(({ percent, afterMs }) => ({ percent, afterMs }))
    const d = withVerifyMemo(() => runFleet({ ...options, waves })).details
    expect(d.rolloutHalt).toBeNull()
    const later = d.rolloutBucketOf.filter((b, i) => b >= 1000 && !Number.isNaN(d.firstFetchSeconds[i]!))
    expect(later.length).toBeGreaterThan(0)
  })

  it('is deterministic from its seed', () => {
    const options = { scenario: 'halt', devices: 200, imageBytes: 2 * MiB, seed: 5 }
    const a = runFleetScenario(options).summary
    const b = runFleetScenario(options).summary
    expect(a).toEqual(b)
  })
})
