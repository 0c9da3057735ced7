/**
 * Hedging (slow retrieval): a request to a neighbour that never delivered is asked of another
 * holder once it is overdue, a few chunk times at the best rate measured among the others and
 * at least HEDGE_MIN_MS, long before the request's own timeout. Virtual time; neighbours are
 * driven by hand: `serve` answers one neighbour's oldest request, `stall` answers nothing.
 */
import { describe, expect, it } from 'vitest'
import {
  HEDGE_MIN_MS,
  HEDGE_RATE_FACTOR,
  PEER_REQUESTS_IN_FLIGHT_MIN,
  REQUEST_TIMEOUT_INITIAL_MS,
} from '../../src/constants.js'
import { Prng } from '../../src/prng.js'
import { fullBitfield } from '../../src/transfer/bitfield.js'
import { type SchedulerOptions, SwarmScheduler } from '../../src/transfer/scheduler.js'

/** A scheduler and the requests it has out per neighbour (oldest first), from its outputs. */
function swarm(chunkCount: number, options: Partial<SchedulerOptions> = {}) {
  const s = new SwarmScheduler({ chunkCount, prng: Prng.fromSeed(7), options })
  const out = new Map<string, number[]>()
  /** Requests and cancels sent, with when and how many chunks were held then. */
  const log: Array<{ type: 'request' | 'cancel'; peer: string; chunk: number; at: number; held: number }> = []
  let now = 0
  const take = () => {
    for (let o = s.poll(); o; o = s.poll()) {
      if (o.type !== 'ban')
        log.push({ type: o.type, peer: o.peer, chunk: o.chunk, at: now, held: s.chunksHeld })
      const list = out.get(o.peer) ?? []
      out.set(o.peer, list)
      if (o.type === 'request') list.push(o.chunk)
      if (o.type === 'cancel') list.splice(list.indexOf(o.chunk), 1)
    }
    s.checkInvariants()
  }
  return {
    s,
    log,
    get now() {
      return now
    },
    join(peer: string) {
      expect(s.handlePeerJoined(peer, fullBitfield(chunkCount), now).ok).toBe(true)
      take()
    },
    /** Time passes to `at`, timers fire. */
    until(at: number) {
      now = at
      s.handleTick(now)
      take()
    },
    /** `peer` answers its oldest request, good. */
    serve(peer: string) {
      const chunk = out.get(peer)?.shift()
      if (chunk === undefined) return
      s.handleChunk(peer, chunk, 'ok', now)
      take()
    },
    /** `peer` answers its oldest request with "busy". */
    busy(peer: string) {
      const chunk = out.get(peer)?.shift()
      if (chunk === undefined) return
      s.handleNotFound(peer, chunk, 'busy', now)
      take()
    },
    /** A chunk `peer` was asked for earlier and answers now (its request may be cancelled). */
    late(peer: string, chunk: number) {
      return s.handleChunk(peer, chunk, 'ok', now)
    },
    /** The oldest request `peer` has out. */
    head: (peer: string) => out.get(peer)?.[0],
    asked: (peer: string) => log.filter((o) => o.type === 'request' && o.peer === peer),
    cancelled: (peer: string) => log.filter((o) => o.type === 'cancel' && o.peer === peer),
  }
}

/** Steps of `stepMs`: each honest neighbour answers one request per step, until `end`. */
function run(w: ReturnType<typeof swarm>, honest: readonly string[], stepMs: number, end: number) {
  while (w.now < end && !w.s.isComplete()) {
    w.until(w.now + stepMs)
    for (const peer of honest) w.serve(peer)
  }
}

describe('transfer: hedging a request to a neighbour that never delivers', () => {
  it('transfer: hedge: a staller’s chunk is asked of a delivering neighbour once overdue, long before its timeout and before end-game; the first copy cancels the staller’s request and its window drops', () => {
    const w = swarm(400)
    w.join('staller')
    w.join('honest')
    const stalled = w.asked('staller').map((o) => o.chunk)
    expect(stalled.length, 'the staller is asked for chunks at once').toBeGreaterThan(0)
    run(w, ['honest'], 10, 30_000)
    expect(w.s.isComplete(), 'the download completes').toBe(true)
    for (const chunk of stalled) {
      const hedged = w.asked('honest').find((o) => o.chunk === chunk)!
      expect(hedged, `chunk ${chunk} is asked of the honest neighbour too`).toBeDefined()
      expect(hedged.at, 'not before the hedge floor').toBeGreaterThanOrEqual(HEDGE_MIN_MS)
      expect(hedged.at, 'long before the request timeout').toBeLessThan(REQUEST_TIMEOUT_INITIAL_MS / 4)
      expect(hedged.held, 'while most chunks were still missing (no end-game)').toBeLessThan(400 / 2)
      expect(
        w.cancelled('staller').some((o) => o.chunk === chunk),
        'the staller’s request is cancelled',
      ).toBe(true)
    }
    const view = w.s.peer('staller')!
    expect(view.overdue, 'its overdue requests are counted').toBeGreaterThanOrEqual(stalled.length)
    expect(view.window, 'its window is at the minimum').toBe(PEER_REQUESTS_IN_FLIGHT_MIN)
    expect(w.s.isBanned('staller'), 'not banned: it timed nothing out').toBe(false)
  })

  it('transfer: hedge: the deadline is a few chunk times at the best measured rate, never before the floor', () => {
    // The honest neighbour answers a chunk every 500 ms: a request in second place at the
    // staller is overdue after HEDGE_RATE_FACTOR x 2 x 500 ms, above the floor.
    const w = swarm(64)
    w.join('staller')
    w.join('honest')
    const [first, second] = w.asked('staller').map((o) => o.chunk)
    run(w, ['honest'], 500, 20_000)
    const at = (chunk: number | undefined) => w.asked('honest').find((o) => o.chunk === chunk)?.at
    expect(at(first), 'first in the staller’s queue').toBeGreaterThanOrEqual(HEDGE_RATE_FACTOR * 1 * 500)
    expect(at(second), 'second in its queue').toBeGreaterThanOrEqual(HEDGE_RATE_FACTOR * 2 * 500)
    expect(at(second)).toBeLessThanOrEqual(HEDGE_RATE_FACTOR * 2 * 500 + 1_000)
  })

  it('transfer: hedge: nothing is overdue while no neighbour has delivered: there is no rate to judge by', () => {
    const w = swarm(16)
    w.join('staller')
    w.join('quiet')
    w.until(REQUEST_TIMEOUT_INITIAL_MS / 2)
    expect(
      w.asked('quiet').map((o) => o.chunk),
      'no chunk asked twice',
    ).toEqual(expect.not.arrayContaining(w.asked('staller').map((o) => o.chunk)))
    expect(w.s.peer('staller')!.overdue).toBe(0)
  })

  it('transfer: hedge: a neighbour that has delivered is judged by its own rate (timeouts, stealing), not hedged', () => {
    const w = swarm(200)
    w.join('slow')
    w.join('fast')
    // The slow neighbour answers one chunk every 800 ms, the fast one every 10 ms.
    for (let t = 10; t <= 8_000 && !w.s.isComplete(); t += 10) {
      w.until(t)
      w.serve('fast')
      if (t % 800 === 0) w.serve('slow')
    }
    expect(w.s.peer('slow')!.overdue, 'its requests are never overdue').toBe(0)
  })

  it('transfer: hedge: a slow honest neighbour’s late copy of a hedged chunk gives it a rate, and its next requests are not hedged', () => {
    const w = swarm(400)
    w.join('slow')
    w.join('fast')
    const [first] = w.asked('slow').map((o) => o.chunk)
    run(w, ['fast'], 10, 1_500)
    expect(w.s.peer('slow')!.overdue, 'its first requests went overdue').toBeGreaterThan(0)
    expect(w.late('slow', first!), 'its copy came second').toBe('duplicate')
    expect(w.s.peer('slow')!.rate, 'measured from the late copy').toBeGreaterThan(0)
    const overdue = w.s.peer('slow')!.overdue
    run(w, ['fast'], 10, 3_000)
    expect(w.s.peer('slow')!.overdue, 'no further hedges').toBe(overdue)
  })

  it('transfer: hedge: an overdue chunk refused "busy" by the only other holder is asked of it again after its back-off, not after the staller’s timeout', () => {
    // The origin of a release refuses a chunk it believes another neighbour holds (super-
    // seeding) and serves it at the third refusal. Before hedging, the refused chunk went back
    // to the staller, which "holds" it too, for a 30 s timeout each time: three times, 90 s.
    const w = swarm(200)
    w.join('staller')
    w.join('origin')
    const [stalled] = w.asked('staller').map((o) => o.chunk)
    let refusals = 0
    while (w.now < REQUEST_TIMEOUT_INITIAL_MS && !w.s.hasChunk(stalled!)) {
      w.until(w.now + 10)
      if (w.head('origin') === stalled && refusals < 2) {
        refusals++
        w.busy('origin')
      } else w.serve('origin')
    }
    expect(refusals, 'the origin refused it twice').toBe(2)
    expect(w.s.hasChunk(stalled!), 'the stalled chunk arrived from the origin').toBe(true)
    expect(w.now, 'before the staller’s request would time out').toBeLessThan(REQUEST_TIMEOUT_INITIAL_MS)
  })

  it('transfer: hedge: can be turned off (factor 0): the staller’s chunk then waits for end-game', () => {
    const w = swarm(400, { hedgeRateFactor: 0 })
    w.join('staller')
    w.join('honest')
    const [stalled] = w.asked('staller').map((o) => o.chunk)
    run(w, ['honest'], 10, 30_000)
    const hedged = w.asked('honest').find((o) => o.chunk === stalled)!
    expect(hedged.held, 'asked elsewhere only once everything else was').toBeGreaterThan(400 - 20)
  })
})
