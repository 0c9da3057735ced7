import { describe, expect, it } from 'vitest'
import { Prng } from '../../src/prng.js'
import { emptyBitfield, fullBitfield, setBit } from '../../src/transfer/bitfield.js'
import { type SchedulerOptions, type SchedulerOutput, SwarmScheduler } from '../../src/transfer/scheduler.js'

function scheduler(chunkCount: number, options: Partial<SchedulerOptions> = {}, seed = 1, held?: Uint8Array) {
  return new SwarmScheduler({
    chunkCount,
    prng: Prng.fromSeed(seed),
    options,
    ...(held ? { held } : {}),
  })
}

function bits(chunkCount: number, chunks: readonly number[] | 'all'): Uint8Array {
  if (chunks === 'all') return fullBitfield(chunkCount)
  const b = emptyBitfield(chunkCount)
  for (const c of chunks) setBit(b, c)
  return b
}

function join(
  s: SwarmScheduler,
  peer: string,
  chunks: readonly number[] | 'all',
  now = 0,
): SchedulerOutput[] {
  const r = s.handlePeerJoined(peer, bits(s.chunkCount, chunks), now)
  expect(r.ok, `${peer} joins`).toBe(true)
  return s.drain()
}

const requests = (outs: SchedulerOutput[], peer?: string): number[] =>
  outs.flatMap((o) => (o.type === 'request' && (peer === undefined || o.peer === peer) ? [o.chunk] : []))
const cancels = (outs: SchedulerOutput[]) =>
  outs.filter((o): o is Extract<SchedulerOutput, { type: 'cancel' }> => o.type === 'cancel')

describe('transfer: scheduler', () => {
  it('transfer: scheduler: knows which chunks a neighbour holds, from its have and its updates', () => {
    const s = scheduler(8)
    join(s, 'a', [1, 2])
    s.handlePeerHave('a', [5], 0)
    s.drain()
    const holds = [0, 1, 2, 3, 4, 5, 6, 7].filter((c) => s.peerHas('a', c))
    expect(holds).toEqual([1, 2, 5])
    expect(s.peerHas('stranger', 1), 'a neighbour that never joined holds nothing').toBe(false)
    expect(s.peerHas('a', 99), 'out of range').toBe(false)
  })

  it('transfer: scheduler: asks for the rarest chunk first', () => {
    const s = scheduler(4, { windowInitial: 1 })
    join(s, 'y', [0, 1, 2])
    join(s, 'z', [0, 1])
    // Chunk 3 is held by x alone, chunk 2 by two peers, chunks 0 and 1 by three.
    expect(requests(join(s, 'x', [0, 1, 2, 3])), 'x is asked for the chunk only it holds').toEqual([3])
  })

  it('transfer: scheduler: never asks a neighbour for a chunk it does not hold, nor anyone for a chunk no one holds', () => {
    const s = scheduler(10, { windowInitial: 8, windowMax: 8 })
    const outs = join(s, 'a', [1, 3, 5])
    expect(requests(outs).sort()).toEqual([1, 3, 5])
    s.checkInvariants()
  })

  it('transfer: scheduler: never asks for a chunk already held after a resume', () => {
    const held = bits(6, [0, 2, 4])
    const s = scheduler(6, { windowInitial: 8, windowMax: 8 }, 1, held)
    expect(s.chunksHeld).toBe(3)
    const outs = join(s, 'a', 'all')
    expect(requests(outs).sort()).toEqual([1, 3, 5])
  })

  it('transfer: scheduler: keeps requests in flight per neighbour within its window', () => {
    const s = scheduler(100, { windowInitial: 3 })
    const outs = join(s, 'a', 'all')
    expect(requests(outs).length).toBe(3)
    expect(s.peer('a')?.inFlight).toBe(3)
  })

  it('transfer: scheduler: widens the window of a fast neighbour and keeps a slow one narrow', () => {
    const s = scheduler(2000, { windowInitial: 2, windowMax: 16, queueTargetMs: 1000 })
    const pending = new Map<string, number[]>([
      ['fast', []],
      ['slow', []],
    ])
    const collect = (outs: SchedulerOutput[]) => {
      for (const o of outs) if (o.type === 'request') pending.get(o.peer)!.push(o.chunk)
    }
    collect(join(s, 'fast', 'all'))
    collect(join(s, 'slow', 'all'))
    // fast answers a request every 5 ms, slow one every 2 s.
    for (let step = 1; step <= 1000; step++) {
      const now = step * 5
      const c = pending.get('fast')!.shift()
      if (c !== undefined) s.handleChunk('fast', c, 'ok', now)
      if (now % 2000 === 0) {
        const d = pending.get('slow')!.shift()
        if (d !== undefined) s.handleChunk('slow', d, 'ok', now)
      }
      collect(s.drain())
    }
    expect(s.peer('fast')?.window).toBe(16)
    expect(s.peer('slow')?.window).toBe(1)
    expect(s.peer('fast')?.inFlight).toBeLessThanOrEqual(16)
  })

  it('transfer: scheduler: a neighbour whose chunk fails its hash is penalised, then banned at the second', () => {
    const s = scheduler(20, { windowInitial: 4, badChunkStrikesMax: 2 })
    const outs = join(s, 'bad', 'all')
    const [c1, c2] = requests(outs)
    expect(s.handleChunk('bad', c1!, 'bad-hash', 1)).toBe('rejected')
    expect(s.peer('bad')?.badStrikes).toBe(1)
    expect(s.peer('bad')?.window, 'the penalty shrinks the window').toBe(1)
    expect(s.isBanned('bad')).toBe(false)
    s.drain()
    expect(s.handleChunk('bad', c2!, 'truncated', 2)).toBe('rejected')
    expect(s.drain()).toContainEqual({ type: 'ban', peer: 'bad', reason: 'bad-chunks' })
    expect(s.isBanned('bad')).toBe(true)
    expect(s.hasChunk(c1!) || s.hasChunk(c2!)).toBe(false)
    const again = s.handlePeerJoined('bad', fullBitfield(20), 3)
    expect(again.ok ? undefined : again.error.code, 'a banned neighbour cannot rejoin').toBe('banned-peer')
    expect(s.handleChunk('bad', 5, 'ok', 4), 'a banned neighbour’s chunks are ignored').toBe('ignored')
    s.checkInvariants()
  })

  it('transfer: scheduler: a request that times out is cancelled and retried at another neighbour', () => {
    const s = scheduler(1, { windowInitial: 1, requestTimeoutInitialMs: 1000, endgameRequestsPerChunkMax: 1 })
    const first = join(s, 'a', 'all')
    expect(requests(first)).toEqual([0])
    join(s, 'b', 'all', 10)
    expect(s.nextTimeout()).toBe(1000)
    s.handleTick(999)
    expect(s.drain()).toEqual([])
    s.handleTick(1000)
    const outs = s.drain()
    expect(outs).toEqual([
      { type: 'cancel', peer: 'a', chunk: 0 },
      { type: 'request', peer: 'b', chunk: 0 },
    ])
    expect(s.peer('a')?.stallStrikes).toBe(1)
  })

  it('transfer: scheduler: a neighbour that stalls is banned after three timeouts, requests queued before a penalty counting once', () => {
    const s = scheduler(50, { windowInitial: 4, requestTimeoutInitialMs: 100, stallStrikesMax: 3 })
    join(s, 'staller', 'all')
    let now = 0
    const bans: SchedulerOutput[] = []
    for (let i = 0; i < 20 && !s.isBanned('staller'); i++) {
      const at = s.nextTimeout()
      expect(at, 'a timeout is pending while requests are out').toBeDefined()
      now = at!
      s.handleTick(now)
      bans.push(...s.drain().filter((o) => o.type === 'ban'))
      if (i === 0) expect(s.peer('staller')?.stallStrikes, 'four queued requests, one strike').toBe(1)
    }
    expect(bans).toEqual([{ type: 'ban', peer: 'staller', reason: 'stalled' }])
    expect(now).toBe(300)
    s.checkInvariants()
  })

  it('transfer: scheduler: a delivery resets the stall count', () => {
    const s = scheduler(10, { windowInitial: 1, requestTimeoutInitialMs: 100, stallStrikesMax: 2 })
    join(s, 'a', 'all')
    s.handleTick(100)
    const [c] = requests(s.drain())
    expect(s.peer('a')?.stallStrikes).toBe(1)
    s.handleChunk('a', c!, 'ok', 150)
    expect(s.peer('a')?.stallStrikes).toBe(0)
  })

  it('transfer: scheduler: a chunk that arrives after its timeout is accepted and resets the stall count', () => {
    const s = scheduler(10, { windowInitial: 1, requestTimeoutInitialMs: 100, endgameRequestsPerChunkMax: 1 })
    const [c] = requests(join(s, 'slow', 'all'))
    s.handleTick(100)
    expect(cancels(s.drain())).toEqual([{ type: 'cancel', peer: 'slow', chunk: c }])
    expect(s.peer('slow')?.stallStrikes).toBe(1)
    expect(s.handleChunk('slow', c!, 'ok', 400)).toBe('accepted')
    expect(s.peer('slow')?.stallStrikes).toBe(0)
    expect(s.peer('slow')?.rate, 'the late answer measured the peer').toBeGreaterThan(0)
  })

  it('transfer: scheduler: in end-game an idle neighbour duplicates the last request and the first copy cancels the other', () => {
    const s = scheduler(2, { windowInitial: 1 })
    const a = requests(join(s, 'a', 'all'))
    const b = requests(join(s, 'b', 'all'))
    expect(new Set([...a, ...b])).toEqual(new Set([0, 1]))
    // b delivers; it is now idle and duplicates a's chunk.
    s.handleChunk('b', b[0]!, 'ok', 5)
    expect(s.drain()).toEqual([{ type: 'request', peer: 'b', chunk: a[0] }])
    s.handleChunk('b', a[0]!, 'ok', 9)
    expect(s.drain()).toEqual([{ type: 'cancel', peer: 'a', chunk: a[0] }])
    expect(s.isComplete()).toBe(true)
    expect(s.handleChunk('a', a[0]!, 'ok', 10), 'a late copy is a duplicate').toBe('duplicate')
    expect(s.nextTimeout()).toBeUndefined()
  })

  /**
   * `other` keeps a chunk waiting (its window of one is full), so the download is not in
   * end-game; `slow` holds chunk 1 on request, asked at the rate it showed for chunk 0; `fast`
   * has just shown its own rate, and then announces chunk 1.
   */
  function stuckAtSlow(slowServiceMs: number, options: Partial<SchedulerOptions> = {}) {
    const s = scheduler(8, { windowInitial: 1, windowMax: 1, ...options })
    join(s, 'other', [5, 6])
    expect(requests(join(s, 'slow', [0], 0))).toEqual([0])
    join(s, 'fast', [])
    s.handleChunk('slow', 0, 'ok', slowServiceMs)
    s.handlePeerHave('slow', [1], 1000)
    expect(requests(s.drain())).toEqual([1])
    s.handlePeerHave('fast', [2], 1000)
    expect(requests(s.drain(), 'fast')).toEqual([2])
    s.handleChunk('fast', 2, 'ok', 1005)
    expect(s.drain(), 'fast holds nothing else wanted yet').toEqual([])
    s.handlePeerHave('fast', [1], 1010)
    return s
  }

  it('transfer: scheduler: a fast idle neighbour takes over a chunk stuck at a much slower one, and the first copy cancels the other', () => {
    const s = stuckAtSlow(1000)
    expect(s.drain(), 'fast (5 ms a chunk) asks for the chunk slow (1 s a chunk) holds').toEqual([
      { type: 'request', peer: 'fast', chunk: 1 },
    ])
    s.checkInvariants()
    expect(s.handleChunk('fast', 1, 'ok', 1015)).toBe('accepted')
    expect(cancels(s.drain())).toEqual([{ type: 'cancel', peer: 'slow', chunk: 1 }])
    expect(s.handleChunk('slow', 1, 'ok', 1020), 'the slow copy is a duplicate').toBe('duplicate')
    s.checkInvariants()
  })

  it('transfer: scheduler: a chunk stays with a neighbour of similar speed, and stealing can be turned off', () => {
    expect(stuckAtSlow(10).drain(), '10 ms against 5 ms a chunk: no second request').toEqual([])
    expect(stuckAtSlow(1000, { stealRateRatio: 0 }).drain(), 'stealing off: fast waits').toEqual([])
  })

  it('transfer: scheduler: end-game copies of one chunk stay within their bound', () => {
    const s = scheduler(1, { windowInitial: 1, endgameRequestsPerChunkMax: 2 })
    for (const p of ['a', 'b', 'c', 'd']) join(s, p, 'all')
    expect(s.requestsInFlight).toBe(2)
    s.checkInvariants()
  })

  it('transfer: scheduler: a neighbour leaving hands its requests to the others', () => {
    const s = scheduler(4, { windowInitial: 4, endgameRequestsPerChunkMax: 1 })
    const a = requests(join(s, 'a', 'all'))
    join(s, 'b', 'all')
    expect(a.length).toBe(4)
    s.handlePeerLeft('a', 5)
    const outs = s.drain()
    expect(requests(outs, 'b').sort()).toEqual([0, 1, 2, 3])
    expect(cancels(outs), 'no cancel to a peer that left').toEqual([])
    s.checkInvariants()
  })

  it('transfer: scheduler: a not-found clears the have bit so the neighbour is not asked again for that chunk', () => {
    const s = scheduler(1, { windowInitial: 1 })
    join(s, 'a', 'all')
    expect(s.handleNotFound('a', 0, 'not-held', 1).ok).toBe(true)
    expect(s.drain()).toEqual([])
    expect(s.peer('a')?.chunksHeld).toBe(0)
    s.handlePeerHave('a', [0], 2)
    expect(s.drain()).toEqual([{ type: 'request', peer: 'a', chunk: 0 }])
  })

  it('transfer: scheduler: a have told through a peer reference counts like one told by id, and a stale reference falls back to the id', () => {
    const s = scheduler(4, { windowInitial: 1 })
    const other = scheduler(4, { windowInitial: 1 })
    join(s, 'a', [])
    join(other, 'a', [])
    const ref = s.peerRef('a')!
    expect(ref.id).toBe('a')
    expect(s.peerRef('zz')).toBeUndefined()
    expect(s.handlePeerHave(ref, [2], 1).ok).toBe(true)
    expect(s.drain()).toEqual([{ type: 'request', peer: 'a', chunk: 2 }])
    expect(s.peer('a')?.chunksHeld).toBe(1)

    // Another scheduler's reference reaches this scheduler's own peer of that id.
    expect(s.handlePeerHave(other.peerRef('a')!, [3], 2).ok).toBe(true)
    expect(s.peer('a')?.chunksHeld).toBe(2)
    expect(other.peer('a')?.chunksHeld, 'the other scheduler is untouched').toBe(0)

    // After the peer left, its old reference is an unknown peer; after it rejoins, it is the new one.
    expect(s.handlePeerLeft('a', 3).ok).toBe(true)
    const gone = s.handlePeerHave(ref, [1], 4)
    expect(gone.ok ? undefined : gone.error.code).toBe('unknown-peer')
    join(s, 'a', [], 5)
    expect(s.handlePeerHave(ref, [1], 6).ok).toBe(true)
    expect(s.peer('a')?.chunksHeld).toBe(1)
    s.checkInvariants()
  })

  it('transfer: scheduler: a busy neighbour gets no requests until its back-off ends', () => {
    const s = scheduler(3, { windowInitial: 1, busyBackoffMs: 500 })
    const [first] = requests(join(s, 'a', 'all'))
    s.handleNotFound('a', first!, 'busy', 10)
    expect(s.drain()).toEqual([])
    expect(s.nextTimeout()).toBe(510)
    s.handleTick(510)
    expect(requests(s.drain(), 'a').length).toBe(1)
  })

  it('transfer: scheduler: refuses malformed peer input with typed errors', () => {
    const s = scheduler(10, { peersMax: 2 })
    const bad = s.handlePeerJoined('a', new Uint8Array(1), 0)
    expect(bad.ok ? undefined : bad.error.code).toBe('bad-bitfield')
    const spare = new Uint8Array(2)
    spare[1] = 0x01
    const spareBits = s.handlePeerJoined('a', spare, 0)
    expect(spareBits.ok ? undefined : spareBits.error.code).toBe('bad-bitfield')
    join(s, 'a', [])
    const twice = s.handlePeerJoined('a', emptyBitfield(10), 0)
    expect(twice.ok ? undefined : twice.error.code).toBe('already-joined')
    join(s, 'b', [])
    const full = s.handlePeerJoined('c', emptyBitfield(10), 0)
    expect(full.ok ? undefined : full.error.code).toBe('too-many-peers')
    const index = s.handlePeerHave('a', [10], 0)
    expect(index.ok ? undefined : index.error.code).toBe('bad-chunk-index')
    const unknown = s.handlePeerHave('zz', [1], 0)
    expect(unknown.ok ? undefined : unknown.error.code).toBe('unknown-peer')
    expect(s.handleChunk('a', 99, 'ok', 0), 'an index outside the image is a bad chunk').toBe('rejected')
    s.checkInvariants()
  })

  it('transfer: scheduler: a chunk the store lost is fetched again', () => {
    const s = scheduler(1, { windowInitial: 1 })
    join(s, 'a', 'all')
    expect(s.handleChunk('a', 0, 'ok', 1)).toBe('accepted')
    expect(s.isComplete()).toBe(true)
    s.drain()
    s.handleChunkLost(0, 2)
    expect(s.isComplete()).toBe(false)
    expect(s.drain()).toEqual([{ type: 'request', peer: 'a', chunk: 0 }])
  })

  it('transfer: scheduler: the same seed and inputs give the same outputs', () => {
    const run = (seed: number) => {
      const s = scheduler(64, { windowInitial: 4 }, seed)
      const out: SchedulerOutput[] = []
      out.push(...join(s, 'a', 'all'), ...join(s, 'b', 'all'), ...join(s, 'c', [1, 2, 3, 40, 41]))
      return out
    }
    expect(run(7)).toEqual(run(7))
    expect(run(7)).not.toEqual(run(8))
  })

  it('transfer: scheduler: refuses time that goes backwards', () => {
    const s = scheduler(1)
    s.handleTick(10)
    expect(() => s.handleTick(9)).toThrow(/time does not go backwards/)
  })
})
