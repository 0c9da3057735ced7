import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type BackoffPolicy, backoffDelayMs, RedialSchedule } from '../../src/node/redial.js'
import { Prng } from '../../src/prng.js'

const policy: BackoffPolicy = { baseMs: 1_000, maxMs: 30_000, factor: 2, jitter: 0.5, stableMs: 10_000 }
const MID = 0.5 // a draw that scales the delay by exactly 1

describe('node: redial backoff (pure)', () => {
  it('grows by the factor from the base and stops at the cap', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 50, 5_000].map((n) => backoffDelayMs(policy, n, MID))
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000])
  })

  it('keeps the jitter within ±50 % of the unjittered delay, for any attempt and draw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (n, draw) => {
          const d = Math.min(policy.maxMs, policy.baseMs * 2 ** (n - 1))
          const delay = backoffDelayMs(policy, n, draw)
          return delay >= Math.floor(d * 0.5) && delay <= Math.ceil(d * 1.5)
        },
      ),
      { seed: 20260310, numRuns: 2_000 },
    )
    expect(backoffDelayMs(policy, 1, 0)).toBe(500)
    expect(backoffDelayMs(policy, 100, 0.999999)).toBeLessThanOrEqual(45_000)
  })
})

describe('node: redial schedule (pure)', () => {
  it('a new peer is due at once; each failure pushes its next dial out further', () => {
    const s = new RedialSchedule(policy, 16)
    s.add('p', 0)
    expect(s.take(0, 4)).toEqual(['p'])
    expect(s.dialing).toBe(1)
    let now = 0
    const delays: number[] = []
    for (let i = 0; i < 7; i++) {
      const delay = s.failed('p', now, MID)!
      delays.push(delay)
      expect(s.take(now + delay - 1, 4)).toEqual([]) // not before its time
      now += delay
      expect(s.take(now, 4)).toEqual(['p'])
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000])
  })

  it('a peer that connects is not dialled again while connected, however long', () => {
    const s = new RedialSchedule(policy, 16)
    s.add('p', 0)
    s.take(0, 1)
    s.connected('p', 10)
    expect(s.dialing).toBe(0)
    expect(s.take(10 ** 9, 4)).toEqual([])
    // A dial that failed after the peer connected to us (its dial won) changes nothing.
    expect(s.failed('p', 20, MID)).toBeUndefined()
    expect(s.get('p')?.state).toBe('connected')
    // Hearing of it again (discovery, peer exchange) does not make it due either.
    s.add('p', 30)
    expect(s.take(10 ** 9, 4)).toEqual([])
  })

  it('a connection that lasted resets the backoff when it closes; a short one does not', () => {
    const s = new RedialSchedule(policy, 16)
    s.add('p', 0)
    let now = 0
    for (let i = 0; i < 5; i++) {
      s.take(now, 1)
      now += s.failed('p', now, MID)!
    }
    expect(s.get('p')?.attempts).toBe(5)
    s.take(now, 1)
    s.connected('p', now)
    // Closed after 1 s (a peer pruning its newest connection): the sixth failure.
    expect(s.disconnected('p', now + 1_000, MID)).toBe(30_000)
    now += 31_000
    s.take(now, 1)
    s.connected('p', now)
    // Closed after the stable time: lost, redialled from the first backoff step.
    expect(s.disconnected('p', now + policy.stableMs, MID)).toBe(1_000)
    expect(s.get('p')?.attempts).toBe(1)
  })

  it('a peer that connected to us is remembered, and redialled when lost', () => {
    const s = new RedialSchedule(policy, 16)
    s.connected('inbound', 0)
    expect(s.take(10 ** 6, 4)).toEqual([])
    const delay = s.disconnected('inbound', 60_000, 0)!
    expect(delay).toBe(500)
    expect(s.take(60_000 + delay, 4)).toEqual(['inbound'])
  })

  it('hands out at most the free slots, bootstrap peers first, then the longest overdue', () => {
    const s = new RedialSchedule(policy, 16)
    s.add('late', 5)
    s.add('early', 1)
    s.add('boot', 9, { pinned: true })
    expect(s.take(10, 0)).toEqual([])
    expect(s.take(10, 2)).toEqual(['boot', 'early'])
    expect(s.take(10, 2)).toEqual(['late'])
    expect(s.dialing).toBe(3)
  })

  it('stays within its capacity, forgetting the learned peer that failed most, never a bootstrap peer', () => {
    const s = new RedialSchedule(policy, 3)
    s.add('boot', 0, { pinned: true })
    s.add('a', 0)
    s.add('b', 0)
    s.take(0, 3)
    s.failed('boot', 0, MID)
    s.failed('boot', 0, MID)
    s.failed('a', 0, MID)
    s.failed('b', 0, MID)
    s.failed('b', 0, MID)
    expect(s.add('c', 0)).toBe(true)
    expect([s.get('boot'), s.get('a'), s.get('b'), s.get('c')].map((e) => e !== undefined)).toEqual([
      true,
      true,
      false,
      true,
    ])
    // Full of peers it must keep (pinned, connected, being dialled): the newcomer is refused.
    s.connected('a', 1)
    s.take(1, 1)
    expect(s.get('c')?.state).toBe('dialing')
    expect(s.add('d', 1)).toBe(false)
    expect(s.size).toBe(3)
  })

  it('keeps its counts consistent under any sequence of events (seeded)', () => {
    const keys = ['a', 'b', 'c', 'd', 'e', 'f']
    const event = fc.record({
      op: fc.constantFrom('add', 'pin', 'take', 'connected', 'failed', 'disconnected', 'remove'),
      key: fc.constantFrom(...keys),
      dt: fc.integer({ min: 0, max: 40_000 }),
      slots: fc.integer({ min: -1, max: 4 }),
    })
    fc.assert(
      fc.property(fc.array(event, { maxLength: 200 }), fc.integer(), (events, seed) => {
        const prng = Prng.fromSeed(seed)
        const s = new RedialSchedule(policy, 4)
        let now = 0
        for (const e of events) {
          now += e.dt
          if (e.op === 'add') s.add(e.key, now)
          else if (e.op === 'pin') s.add(e.key, now, { pinned: true })
          else if (e.op === 'take') {
            const taken = s.take(now, e.slots)
            if (taken.length > Math.max(0, e.slots)) return false
            for (const k of taken) if (s.get(k)?.state !== 'dialing') return false
          } else if (e.op === 'connected') s.connected(e.key, now)
          else if (e.op === 'failed') s.failed(e.key, now, prng.next())
          else if (e.op === 'disconnected') s.disconnected(e.key, now, prng.next())
          else s.remove(e.key)
          const entries = keys.map((k) => s.get(k)).filter((x) => x !== undefined)
          if (s.size !== entries.length) return false
          if (s.dialing !== entries.filter((x) => x.state === 'dialing').length) return false
          if (s.size > 4) return false
          for (const x of entries) if (x.state === 'waiting' && x.dueAt - now > 45_000) return false
        }
        return true
      }),
      { seed: 20260311, numRuns: 500 },
    )
  })
})
