import { describe, expect, it } from 'vitest'
import { Simulator } from '../../simulations/engine.js'
import { VirtualTimer } from '../../simulations/virtual-timer.js'

function setUp() {
  const sim = new Simulator(0, 1_000, 1_000)
  const fired: number[] = []
  const timer = new VirtualTimer({ now: () => sim.now, at: (t, run) => sim.at(t, run) }, () =>
    fired.push(sim.now),
  )
  return { sim, fired, timer }
}

describe('simulations: virtual timer', () => {
  it('an earlier deadline replaces a later one, which then fires no more', () => {
    const { sim, fired, timer } = setUp()
    timer.arm(50)
    timer.arm(20)
    sim.run(1_000)
    expect(fired).toEqual([20])
  })

  it('a later deadline waits for the pending firing instead of scheduling another', () => {
    const { sim, fired, timer } = setUp()
    timer.arm(20)
    timer.arm(50)
    expect(sim.pending).toBe(1)
    sim.run(1_000)
    expect(fired).toEqual([20])
  })

  it('a deadline in the past fires now, and a cancelled timer does not fire', () => {
    const { sim, fired, timer } = setUp()
    sim.at(30, () => timer.arm(10))
    sim.run(1_000)
    expect(fired).toEqual([30])
    timer.arm(100)
    timer.cancel()
    sim.run(1_000)
    expect(fired).toEqual([30])
  })
})
