/**
 * A small discrete-event driver for the swarm scheduler, used by the tests: virtual time on the
 * simulators' event queue, a seeded PRNG, neighbours that serve their requests one at a time in
 * order (dropping cancelled ones not yet started), with a latency each way. Some neighbours misbehave: they send chunks
 * that fail their hash, truncated chunks, or stop answering. The driver checks the scheduler's
 * promises on every output and records any violation instead of throwing, so a property test
 * can report them.
 */

import { EventQueue } from '../../simulations/event-queue.js'
import { Prng } from '../../src/prng.js'
import { emptyBitfield, setBit } from '../../src/transfer/bitfield.js'
import {
  type ChunkVerdict,
  type SchedulerOptions,
  type SchedulerOutput,
  SwarmScheduler,
} from '../../src/transfer/index.js'

export type Behaviour = 'honest' | 'corrupt' | 'truncate' | 'stall'

export interface SimPeer {
  readonly id: string
  readonly behaviour: Behaviour
  /** Chunks served well before a `stall`, `corrupt` or `truncate` peer starts misbehaving. */
  readonly goodChunks: number
  readonly latencyMs: number
  readonly serviceMs: number
  readonly joinAt: number
  readonly leaveAt?: number
  readonly have: readonly number[]
  readonly haveUpdates: readonly { readonly at: number; readonly chunks: readonly number[] }[]
}

export interface SwarmSpec {
  readonly chunkCount: number
  readonly peers: readonly SimPeer[]
  readonly seed: number
  readonly held?: Uint8Array
  readonly options?: Partial<SchedulerOptions>
  /** Run the scheduler's O(chunks × peers) invariant check after every step. */
  readonly checkInvariants?: boolean
  readonly maxEvents?: number
  readonly maxTimeMs?: number
}

/** How a delivered chunk's verdict is found; defaults to the peer's behaviour. */
export interface Hooks {
  deliver?(peer: SimPeer, chunk: number, misbehave: boolean): ChunkVerdict | Promise<ChunkVerdict>
  accepted?(chunk: number): void | Promise<void>
  requested?(peer: string, chunk: number): void
}

export interface SwarmResult {
  readonly complete: boolean
  readonly timeMs: number
  readonly events: number
  readonly bans: ReadonlyMap<string, string>
  readonly requests: number
  readonly rejected: number
  readonly accepted: number
  readonly violations: readonly string[]
  readonly scheduler: SwarmScheduler
}

type Event =
  | { kind: 'join'; peer: SimPeer }
  | { kind: 'leave'; peer: SimPeer }
  | { kind: 'have'; peer: SimPeer; chunks: readonly number[] }
  | { kind: 'request-arrives'; peer: SimPeer; chunk: number }
  | { kind: 'cancel-arrives'; peer: SimPeer; chunk: number }
  | { kind: 'served'; peer: SimPeer; chunk: number }
  | { kind: 'deliver'; peer: SimPeer; chunk: number; misbehave: boolean }

/** Events pending at once: far above what a swarm of tests' size schedules; a runaway is an error. */
const EVENTS_PENDING_MAX = 1 << 20
const KIND_EVENT = 1

/**
 * The simulators' event queue (simulations/event-queue.ts: by time, ties in push order)
 * carrying this harness's events: each typed event holds the number of its event object.
 */
class Events {
  private readonly queue = new EventQueue(64, EVENTS_PENDING_MAX)
  private readonly held = new Map<number, Event>()
  private nextId = 0

  push(at: number, event: Event): void {
    const id = this.nextId++
    this.held.set(id, event)
    this.queue.push(at, KIND_EVENT, id, 0, 0, 0, 0)
  }

  peekAt(): number | undefined {
    return this.queue.size === 0 ? undefined : this.queue.peekAt()
  }

  pop(): { at: number; event: Event } | undefined {
    if (!this.queue.pop()) return undefined
    const event = this.held.get(this.queue.a)!
    this.held.delete(this.queue.a)
    return { at: this.queue.at, event }
  }
}

interface ServerState {
  queue: number[]
  busy: boolean
  present: boolean
  served: number
  announced: Set<number>
}

export async function runSwarm(spec: SwarmSpec, hooks: Hooks = {}): Promise<SwarmResult> {
  const prng = Prng.fromSeed(spec.seed)
  const scheduler = new SwarmScheduler({
    chunkCount: spec.chunkCount,
    prng: prng.child('scheduler'),
    ...(spec.held ? { held: spec.held } : {}),
    ...(spec.options ? { options: spec.options } : {}),
  })
  const windowMax = spec.options?.windowMax ?? 16
  const copiesMax = spec.options?.endgameRequestsPerChunkMax ?? 3
  const events = new Events()
  const servers = new Map<string, ServerState>()
  const inflight = new Map<string, Set<number>>()
  const copies = new Map<number, number>()
  const bans = new Map<string, string>()
  const violations: string[] = []
  let requests = 0
  let rejected = 0
  let accepted = 0
  let now = 0
  let count = 0
  const maxEvents = spec.maxEvents ?? 200_000
  const maxTimeMs = spec.maxTimeMs ?? 10 * 60_000

  for (const peer of spec.peers) {
    events.push(peer.joinAt, { kind: 'join', peer })
    if (peer.leaveAt !== undefined) events.push(peer.leaveAt, { kind: 'leave', peer })
    for (const u of peer.haveUpdates)
      events.push(Math.max(u.at, peer.joinAt), { kind: 'have', peer, chunks: u.chunks })
  }
  const byId = new Map(spec.peers.map((p) => [p.id, p]))

  const violate = (why: string) => {
    if (violations.length < 20) violations.push(`t=${now}: ${why}`)
  }
  const forget = (peer: string, chunk: number) => {
    const set = inflight.get(peer)
    if (set?.delete(chunk)) copies.set(chunk, (copies.get(chunk) ?? 1) - 1)
  }
  const forgetPeer = (peer: string) => {
    for (const chunk of inflight.get(peer) ?? []) copies.set(chunk, (copies.get(chunk) ?? 1) - 1)
    inflight.delete(peer)
  }

  const startServing = (peer: SimPeer, server: ServerState) => {
    if (server.busy || !server.present) return
    const chunk = server.queue.shift()
    if (chunk === undefined) return
    server.busy = true
    events.push(now + peer.serviceMs, { kind: 'served', peer, chunk })
  }

  const act = (out: SchedulerOutput) => {
    const peer = byId.get(out.peer)
    if (!peer) {
      violate(`output for an unknown peer ${out.peer}`)
      return
    }
    if (out.type === 'request') {
      requests++
      hooks.requested?.(out.peer, out.chunk)
      const server = servers.get(out.peer)
      if (bans.has(out.peer)) violate(`request to banned ${out.peer}`)
      if (!server?.present) violate(`request to absent ${out.peer}`)
      if (!server?.announced.has(out.chunk))
        violate(`request to ${out.peer} for chunk ${out.chunk} it never announced`)
      if (scheduler.hasChunk(out.chunk)) violate(`request for held chunk ${out.chunk}`)
      const set = inflight.get(out.peer) ?? new Set<number>()
      inflight.set(out.peer, set)
      if (set.has(out.chunk)) violate(`second request to ${out.peer} for chunk ${out.chunk}`)
      set.add(out.chunk)
      copies.set(out.chunk, (copies.get(out.chunk) ?? 0) + 1)
      if (set.size > windowMax) violate(`${set.size} requests in flight to ${out.peer}, over ${windowMax}`)
      if ((copies.get(out.chunk) ?? 0) > copiesMax)
        violate(`${copies.get(out.chunk)} copies of chunk ${out.chunk}`)
      events.push(now + peer.latencyMs, { kind: 'request-arrives', peer, chunk: out.chunk })
    } else if (out.type === 'cancel') {
      if (!inflight.get(out.peer)?.has(out.chunk))
        violate(`cancel of a request never made: ${out.peer}/${out.chunk}`)
      forget(out.peer, out.chunk)
      events.push(now + peer.latencyMs, { kind: 'cancel-arrives', peer, chunk: out.chunk })
    } else {
      if (bans.has(out.peer)) violate(`${out.peer} banned twice`)
      bans.set(out.peer, out.reason)
      forgetPeer(out.peer)
    }
  }

  const drain = () => {
    for (let out = scheduler.poll(); out !== undefined; out = scheduler.poll()) act(out)
    if (spec.checkInvariants) {
      try {
        scheduler.checkInvariants()
      } catch (e) {
        violate(`invariant: ${(e as Error).message}`)
      }
    }
  }

  while (!scheduler.isComplete() && count < maxEvents && violations.length === 0) {
    const nextEvent = events.peekAt()
    const nextTimer = scheduler.nextTimeout()
    if (nextEvent === undefined && nextTimer === undefined) break
    if (nextTimer !== undefined && (nextEvent === undefined || nextTimer < nextEvent)) {
      now = Math.max(now, nextTimer)
      if (now > maxTimeMs) break
      scheduler.handleTick(now)
      count++
      drain()
      continue
    }
    const { at, event } = events.pop()!
    now = Math.max(now, at)
    if (now > maxTimeMs) break
    count++
    const server = servers.get(event.peer.id)
    switch (event.kind) {
      case 'join': {
        const bits = emptyBitfield(spec.chunkCount)
        for (const c of event.peer.have) setBit(bits, c)
        servers.set(event.peer.id, {
          queue: [],
          busy: false,
          present: true,
          served: 0,
          announced: new Set(event.peer.have),
        })
        const r = scheduler.handlePeerJoined(event.peer.id, bits, now)
        if (!r.ok) violate(`join refused: ${r.error.message}`)
        break
      }
      case 'leave': {
        if (!server?.present) break
        server.present = false
        forgetPeer(event.peer.id)
        if (!bans.has(event.peer.id)) {
          const r = scheduler.handlePeerLeft(event.peer.id, now)
          if (!r.ok) violate(`leave refused: ${r.error.message}`)
        }
        break
      }
      case 'have': {
        if (!server?.present || bans.has(event.peer.id)) break
        for (const c of event.chunks) server.announced.add(c)
        const r = scheduler.handlePeerHave(event.peer.id, event.chunks, now)
        if (!r.ok) violate(`have refused: ${r.error.message}`)
        break
      }
      case 'request-arrives': {
        if (!server?.present) break
        server.queue.push(event.chunk)
        startServing(event.peer, server)
        break
      }
      case 'cancel-arrives': {
        if (!server) break
        const i = server.queue.indexOf(event.chunk)
        if (i >= 0) server.queue.splice(i, 1)
        break
      }
      case 'served': {
        if (!server) break
        server.busy = false
        server.served++
        const misbehave = event.peer.behaviour !== 'honest' && server.served > event.peer.goodChunks
        if (!(misbehave && event.peer.behaviour === 'stall')) {
          events.push(now + event.peer.latencyMs, {
            kind: 'deliver',
            peer: event.peer,
            chunk: event.chunk,
            misbehave,
          })
        }
        startServing(event.peer, server)
        break
      }
      case 'deliver': {
        if (!server?.present || bans.has(event.peer.id)) break
        const verdict = hooks.deliver
          ? await hooks.deliver(event.peer, event.chunk, event.misbehave)
          : defaultVerdict(event.peer, event.misbehave)
        forget(event.peer.id, event.chunk)
        const outcome = scheduler.handleChunk(event.peer.id, event.chunk, verdict, now)
        if (outcome === 'rejected') rejected++
        if (outcome === 'accepted') {
          accepted++
          if (verdict !== 'ok') violate(`accepted a ${verdict} chunk`)
          await hooks.accepted?.(event.chunk)
        }
        break
      }
    }
    drain()
  }
  return {
    complete: scheduler.isComplete(),
    timeMs: now,
    events: count,
    bans,
    requests,
    rejected,
    accepted,
    violations,
    scheduler,
  }
}

function defaultVerdict(peer: SimPeer, misbehave: boolean): ChunkVerdict {
  if (!misbehave) return 'ok'
  return peer.behaviour === 'truncate' ? 'truncated' : 'bad-hash'
}

/** Options that scale the real timeouts down to the harness's millisecond-scale peers. */
export const TEST_SCHEDULER_OPTIONS: Partial<SchedulerOptions> = {
  requestTimeoutInitialMs: 2_000,
  requestTimeoutMinMs: 200,
  requestTimeoutMaxMs: 10_000,
  queueTargetMs: 200,
}

export interface RandomSwarmShape {
  readonly chunkCount: number
  readonly honest: number
  readonly bad: number
  readonly seed: number
  /** Honest peers that leave part-way (not counted on for coverage). */
  readonly leaving?: number
  readonly behaviours?: readonly Exclude<Behaviour, 'honest'>[]
}

/**
 * A random swarm in which the honest peers that stay hold every chunk between them (some
 * chunks only through a later have-update), and up to `bad` peers misbehave.
 */
export function randomSwarm(shape: RandomSwarmShape): SimPeer[] {
  const prng = Prng.fromSeed(`swarm:${shape.seed}`)
  const behaviours = shape.behaviours ?? ['corrupt', 'truncate', 'stall']
  const n = shape.chunkCount
  const peers: SimPeer[] = []
  const make = (id: string, behaviour: Behaviour, leaves: boolean): SimPeer => {
    const density = prng.pick([0.1, 0.5, 0.9, 1])
    const have: number[] = []
    for (let c = 0; c < n; c++) if (prng.chance(density)) have.push(c)
    const joinAt = prng.int(3) === 0 ? prng.int(2_000) : 0
    return {
      id,
      behaviour,
      goodChunks: behaviour === 'honest' ? 0 : prng.int(4),
      latencyMs: prng.int(50),
      serviceMs: 1 + prng.int(40),
      joinAt,
      ...(leaves ? { leaveAt: joinAt + prng.int(3_000) } : {}),
      have,
      haveUpdates: [],
    }
  }
  const staying: SimPeer[] = []
  for (let i = 0; i < shape.honest; i++) staying.push(make(`honest-${i}`, 'honest', false))
  // Every chunk no staying honest peer holds goes to one of them, now or in a later have-update.
  const covered = new Set(staying.flatMap((p) => p.have))
  const late = new Map<number, number[]>()
  for (let c = 0; c < n; c++) {
    if (covered.has(c)) continue
    const i = prng.int(staying.length)
    if (prng.chance(0.5)) (staying[i]!.have as number[]).push(c)
    else late.set(i, [...(late.get(i) ?? []), c])
  }
  staying.forEach((p, i) => {
    const chunks = late.get(i)
    if (!chunks) return
    for (let k = 0; k < chunks.length; k += 7) {
      ;(p.haveUpdates as { at: number; chunks: readonly number[] }[]).push({
        at: p.joinAt + prng.int(4_000),
        chunks: chunks.slice(k, k + 7),
      })
    }
  })
  peers.push(...staying)
  for (let i = 0; i < (shape.leaving ?? 0); i++) peers.push(make(`leaving-${i}`, 'honest', true))
  for (let i = 0; i < shape.bad; i++) peers.push(make(`bad-${i}`, prng.pick(behaviours), prng.chance(0.2)))
  return prng.shuffle(peers)
}
