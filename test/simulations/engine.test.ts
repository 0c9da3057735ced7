import { describe, expect, it } from 'vitest'
import { runConsensusSeed } from '../../simulations/consensus/run.js'
import { EventBudgetExceeded, EventQueue, Simulator } from '../../simulations/engine.js'
import { Network } from '../../simulations/network.js'
import { Prng } from '../../src/prng.js'

describe('simulations: engine', () => {
  it('runs events in time order, ties in the order they were scheduled', () => {
    const sim = new Simulator(0, 1000, 1000)
    const seen: string[] = []
    sim.at(30, () => seen.push('c'))
    sim.at(10, () => seen.push('a1'))
    sim.at(10, () => seen.push('a2'))
    sim.at(20, () => {
      seen.push('b')
      sim.after(0, () => seen.push('b-then'))
    })
    expect(sim.run(100)).toBe('drained')
    expect(seen).toEqual(['a1', 'a2', 'b', 'b-then', 'c'])
    expect(sim.now).toBe(30)
  })

  it('keeps a heap order over many random times', () => {
    const q = new EventQueue()
    const prng = Prng.fromSeed('heap')
    for (let i = 0; i < 2000; i++) q.push({ at: prng.int(500), seq: i, run: () => {} })
    let last = { at: -1, seq: -1 }
    for (let item = q.pop(); item; item = q.pop()) {
      const ordered = item.at > last.at || (item.at === last.at && item.seq > last.seq)
      expect(ordered, `item at ${item.at}/${item.seq} after ${last.at}/${last.seq}`).toBe(true)
      last = item
    }
  })

  it('stops at the deadline and resumes from there', () => {
    const sim = new Simulator(0, 1000, 1000)
    const seen: number[] = []
    for (const t of [5, 15, 25]) sim.at(t, () => seen.push(t))
    expect(sim.run(16)).toBe('deadline')
    expect(seen).toEqual([5, 15])
    expect(sim.now).toBe(16)
    sim.run(100)
    expect(seen).toEqual([5, 15, 25])
  })

  it('bounds every run: too many events, or too many pending, is an error', () => {
    const sim = new Simulator(0, 50, 1000)
    const loop = () => sim.after(1, loop)
    sim.at(0, loop)
    expect(() => sim.run(1e9)).toThrow(EventBudgetExceeded)
    const crowded = new Simulator(0, 1000, 10)
    expect(() => {
      for (let i = 0; i < 11; i++) crowded.at(i, () => {})
    }).toThrow(EventBudgetExceeded)
  })
})

describe('simulations: network', () => {
  it('drops messages across a partition until it heals', () => {
    const sim = new Simulator(0, 10_000, 10_000)
    const net = new Network(sim, Prng.fromSeed('p'))
    net.addPartition({
      groupOf: new Map([
        [0, 0],
        [1, 1],
      ]),
      from: 10,
      until: 50,
    })
    const got: number[] = []
    for (const t of [0, 20, 49, 50, 60]) sim.at(t, () => net.send(0, 1, () => got.push(t)))
    sim.run(1000)
    expect(got).toEqual([0, 50, 60])
    expect(net.stats.partitioned).toBe(2)
  })

  it('loses, duplicates and reorders about as often as the link says, the same way for the same seed', () => {
    const trace = (seed: string) => {
      const sim = new Simulator(0, 100_000, 100_000)
      const net = new Network(sim, Prng.fromSeed(seed), {
        latencyMs: 10,
        jitterMs: 5,
        loss: 0.1,
        duplicate: 0.1,
        reorder: 0.2,
        reorderMs: 40,
      })
      const order: number[] = []
      for (let i = 0; i < 2000; i++) sim.at(i, () => net.send(0, 1, () => order.push(i)))
      sim.run(1e9)
      return { order, stats: { ...net.stats } }
    }
    const a = trace('links')
    expect(a.stats.lost / 2000).toBeGreaterThan(0.07)
    expect(a.stats.lost / 2000).toBeLessThan(0.13)
    expect(a.stats.duplicated).toBeGreaterThan(100)
    const overtaken = a.order.filter((v, i) => i > 0 && v < a.order[i - 1]!).length
    expect(overtaken).toBeGreaterThan(50)
    expect(trace('links')).toEqual(a)
    expect(trace('other').order).not.toEqual(a.order)
  })
})

describe('simulations: consensus runs', () => {
  it('a run is fully determined by its seed', () => {
    const a = runConsensusSeed({ seed: 11, validators: 4, byzantine: 'mixed' })
    const b = runConsensusSeed({ seed: 11, validators: 4, byzantine: 'mixed' })
    expect(b).toEqual(a)
    const c = runConsensusSeed({ seed: 12, validators: 4, byzantine: 'mixed' })
    expect(c.events).not.toBe(a.events)
  })
})
