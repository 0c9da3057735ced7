import { describe, expect, it } from 'vitest'
import { runConsensusSeed } from '../../simulations/consensus/run.js'
import { EventBudgetExceeded, EventQueue, KIND_CLOSURE, Simulator } from '../../simulations/engine.js'
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

describe('simulations: event queue', () => {
  it('pops events by time, ties in the order they were pushed, across growth', () => {
    const q = new EventQueue(2, 1_000)
    const prng = Prng.fromSeed('queue')
    const pushed: [number, number][] = []
    for (let i = 0; i < 500; i++) {
      const at = prng.int(50)
      pushed.push([at, i])
      q.push(at, 1, i, 0, 0, 0, 0)
    }
    const order: number[] = []
    while (q.pop()) order.push(q.a)
    const expected = [...pushed].sort((x, y) => x[0] - y[0] || x[1] - y[1]).map(([, i]) => i)
    expect(order).toEqual(expected)
  })

  it('interleaved pushes and pops always pop the earliest pending event, ties first-pushed first', () => {
    const q = new EventQueue(1, 10_000)
    const prng = Prng.fromSeed('queue-interleaved')
    const pending: [number, number][] = []
    let next = 0
    for (let step = 0; step < 5_000; step++) {
      if (pending.length === 0 || prng.int(3) > 0) {
        const at = prng.int(20)
        pending.push([at, next])
        q.push(at, 1, next++, 0, 0, 0, 0)
      } else {
        pending.sort((x, y) => x[0] - y[0] || x[1] - y[1])
        const [at, id] = pending.shift()!
        expect(q.peekAt()).toBe(at)
        expect(q.pop()).toBe(true)
        expect([q.at, q.a]).toEqual([at, id])
      }
      expect(q.size).toBe(pending.length)
    }
  })

  it('runs closures in their turn and refuses more pending events than its bound', () => {
    const q = new EventQueue(1, 3)
    const ran: string[] = []
    q.pushClosure(2, () => ran.push('b'))
    q.pushClosure(1, () => ran.push('a'))
    q.push(3, 5, 0, 0, 0, 0, 0)
    expect(() => q.push(4, 5, 0, 0, 0, 0, 0)).toThrow(/pending/)
    while (q.pop()) if (q.kind === KIND_CLOSURE) q.fn!()
    expect(ran).toEqual(['a', 'b'])
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
