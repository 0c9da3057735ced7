/**
 * One node's part in one image's swarm: the chunk protocol's decisions, written once for the
 * libp2p node (src/node/transfer-service.ts) and the fleet simulator (simulations/fleet/), which
 * both drive this object and differ only in how bytes move and time passes.
 *
 * It joins the pieces that decide: the `SwarmScheduler` (what to ask of whom, while
 * downloading), the `UploadQueue` (whom to serve next), the `SeedPolicy` (the origin's
 * super-seeding, for an image this node published), and the protocol's rules between them:
 * - a neighbour is told our holdings (`have`) once, when we start downloading or it connects
 *   while we are, or when it tells us its own first: the first `have` heard is always answered,
 *   because ours may have reached it before it knew the manifest and been dropped;
 * - chunks we come to hold are announced (`have-update`) only to neighbours that told us they
 *   take part, leaving out chunks the neighbour said it holds, except to a neighbour holding
 *   every chunk: the origin's super-seeding sends a chunk again only while it knows of no holder;
 * - a request is served only for a chunk held, only within the upload queue's bounds, and at
 *   the origin only as its seeding policy allows; every refusal is answered with `not-found`.
 *
 * Sans-IO like its parts: inputs through `handle*` with the current time, outputs polled,
 * `nextTimeout()` for the one timer. Chunk bytes never pass through it: the driver verifies a
 * chunk, reports the verdict (`handleChunk`), stores an accepted one and says so
 * (`chunkStored`), and calls `announce()` when it wants the news sent (the node at the end of
 * the turn, the simulator after its batching delay). Uploads: after `handleRequest` returns
 * true the driver takes jobs with `takeUpload()` as its uplink frees, and reports each with
 * `uploadSent`.
 */
import { assert } from '../codec/assert.js'
import { HAVE_UPDATE_CHUNKS_MAX, SESSION_OUTPUTS_MAX, TRANSFER_NEIGHBOURS_MAX } from '../constants.js'
import type { Prng } from '../prng.js'
import { bitfieldBytes, fullBitfield, getBit, setBit } from './bitfield.js'
import type { ChunkVerdict } from './manifest.js'
import {
  type ChunkOutcome,
  type PeerId,
  type PeerRef,
  type SchedulerOutput,
  SwarmScheduler,
} from './scheduler.js'
import { SeedPolicy } from './seed-policy.js'
import { type UploadJob, UploadQueue } from './upload.js'

export type { PeerRef, UploadJob }

export type NotFoundReason = 'not-held' | 'busy'

const NONE: readonly number[] = []

/** What the driver sends or does; `request`, `cancel` and `ban` are the scheduler's own. */
export type SessionOutput =
  | SchedulerOutput
  | { readonly type: 'have'; readonly peer: PeerId; readonly bitfield: Uint8Array }
  | { readonly type: 'have-update'; readonly peer: PeerId; readonly chunks: readonly number[] }
  | {
      readonly type: 'not-found'
      readonly peer: PeerId
      readonly chunk: number
      readonly reason: NotFoundReason
    }

export interface SessionInit {
  readonly chunkCount: number
  /** Chunks held when the session opens (a resumed or a complete image), bitfield.ts layout. */
  readonly held?: Uint8Array
}

/** A connected neighbour as the session knows it. */
interface Neighbour {
  readonly id: PeerId
  /** We sent it our `have`: it gets our have-updates (once it has told us its own). */
  told: boolean
  /** We received its `have`: it takes part in this image. */
  heard: boolean
  /** The scheduler's reference for it while we download (saves the lookup by id). */
  ref: PeerRef | undefined
  /** Its place in `neighbourList`. */
  at: number
}

export class TransferSession {
  readonly chunkCount: number
  private readonly held: Uint8Array
  private heldCount = 0
  private readonly neighbours = new Map<PeerId, Neighbour>()
  /** The same records in an array, for `announce` (iterating a Map was most of its time). */
  private readonly neighbourList: Neighbour[] = []
  private readonly uploads: UploadQueue
  private scheduler: SwarmScheduler | null = null
  private seeding: SeedPolicy | null = null
  /** Chunks stored since neighbours still downloading were last told (`announce('all')`). */
  private fresh: number[] = []
  /** Chunks stored since neighbours holding every chunk were last told (either scope). */
  private freshForComplete: number[] = []
  /** Outputs of the session's own (the scheduler keeps its own queue). */
  private readonly out: SessionOutput[] = []
  private outHead = 0

  constructor(init: SessionInit) {
    assert(Number.isSafeInteger(init.chunkCount) && init.chunkCount >= 1, 'an image has at least one chunk')
    this.chunkCount = init.chunkCount
    this.held = new Uint8Array(bitfieldBytes(init.chunkCount))
    if (init.held) {
      assert(init.held.length === this.held.length, 'a held bitfield of the image')
      for (let c = 0; c < init.chunkCount; c++) if (getBit(init.held, c)) this.markHeld(c)
    }
    this.uploads = new UploadQueue()
  }

  // ---- Roles ----

  /** Starts downloading what is missing, from every neighbour that tells us its holdings. */
  startDownload(prng: Prng, connected: Iterable<PeerId>): void {
    assert(this.scheduler === null && !this.isComplete(), 'one download at a time, of an incomplete image')
    this.scheduler = new SwarmScheduler({ chunkCount: this.chunkCount, prng, held: this.held })
    for (const peer of connected) this.tell(peer)
  }

  /** Stops downloading (cancelled, or the image is complete): no more requests or timers. */
  stopDownload(): void {
    this.scheduler = null
    for (const n of this.neighbourList) n.ref = undefined
  }

  /** This node published the image: it super-seeds it, and tells every neighbour it holds it. */
  startSeeding(connected: Iterable<PeerId>): void {
    assert(this.isComplete(), 'only a complete image is seeded')
    if (this.seeding === null) this.seeding = new SeedPolicy(this.chunkCount)
    this.tellAll(connected)
  }

  /** Tells these neighbours what we hold, unless told already (they answer with theirs). */
  tellAll(connected: Iterable<PeerId>): void {
    for (const peer of connected) this.tell(peer)
  }

  get downloading(): boolean {
    return this.scheduler !== null
  }

  get seedingStats(): { served: number; refused: number; neighbours: number } | undefined {
    return this.seeding?.stats
  }

  // ---- Neighbours ----

  /** A neighbour connected: told our holdings if we are downloading (it may serve us). */
  handlePeerConnected(peer: PeerId): void {
    if (this.scheduler !== null) this.tell(peer)
  }

  /** A neighbour's link broke: whatever it announced, asked or was told is forgotten. */
  handlePeerLeft(peer: PeerId, now: number): void {
    const n = this.neighbours.get(peer)
    if (n !== undefined) {
      this.neighbours.delete(peer)
      const last = this.neighbourList.pop()!
      if (last !== n) {
        last.at = n.at
        this.neighbourList[n.at] = last
      }
    }
    this.uploads.handlePeerLeft(peer)
    this.seeding?.handlePeerLeft(peer)
    this.scheduler?.handlePeerLeft(peer, now)
  }

  /**
   * Tells a neighbour our holdings again, told before or not: one that asked for the manifest
   * keeps them for its download's start (the node's manifests ahead), instead of learning them
   * from our answer to its first `have`, a round trip later.
   */
  tellAgain(peer: PeerId): void {
    const n = this.neighbour(peer)
    if (n === undefined) return
    n.told = false
    this.tell(peer)
  }

  /** Whether a connected neighbour was told our holdings (status pages, tests). */
  hasTold(peer: PeerId): boolean {
    return this.neighbours.get(peer)?.told === true
  }

  // ---- Messages from neighbours ----

  /** A neighbour's `have`: it takes part; the first one heard is answered with ours. */
  handleHave(peer: PeerId, bitfield: Uint8Array, now: number): void {
    const n = this.neighbour(peer)
    if (n === undefined) return
    this.seeding?.handlePeerBitfield(peer, bitfield)
    const s = this.scheduler
    if (s?.handlePeerJoined(peer, bitfield, now).ok) n.ref = s.peerRef(peer)
    if (!n.heard) {
      n.heard = true
      n.told = false
    }
    this.tell(peer)
  }

  /**
   * A neighbour's news. `from` may be the reference `peerRef` gave for it (a driver that keeps
   * one per link saves the lookup by id on the hot path); a stale one acts as the id.
   */
  handleHaveUpdate(from: PeerId | PeerRef, chunks: readonly number[], now: number): void {
    const isId = typeof from === 'string'
    this.seeding?.handlePeerHave(isId ? from : from.id, chunks)
    const s = this.scheduler
    if (s === null) return
    s.handlePeerHave(isId ? (this.neighbours.get(from)?.ref ?? from) : from, chunks, now)
  }

  /** The scheduler's reference for a joined neighbour (see PeerRef), while downloading. */
  peerRef(peer: PeerId): PeerRef | undefined {
    return this.neighbours.get(peer)?.ref
  }

  /** A request for a chunk: true when it was queued for upload (the driver then pumps). */
  handleRequest(peer: PeerId, chunk: number, now: number): boolean {
    if (!this.holds(chunk)) {
      this.emit({ type: 'not-found', peer, chunk, reason: 'not-held' })
      return false
    }
    if (this.seeding !== null && this.seeding.decide(peer, chunk, now) === 'refuse') {
      this.emit({ type: 'not-found', peer, chunk, reason: 'busy' })
      return false
    }
    const held = this.scheduler?.peerChunksHeld(this.neighbours.get(peer)?.ref ?? peer)
    const queued = this.uploads.handleRequest(peer, chunk, held)
    if (queued.ok) return true
    // A repeated request is already queued; anything else is over the queue's bounds.
    if (queued.error.code !== 'duplicate') this.emit({ type: 'not-found', peer, chunk, reason: 'busy' })
    return false
  }

  handleCancel(peer: PeerId, chunk: number): void {
    this.uploads.handleCancel(peer, chunk)
  }

  handleNotFound(peer: PeerId, chunk: number, reason: NotFoundReason, now: number): void {
    this.scheduler?.handleNotFound(peer, chunk, reason, now)
  }

  /**
   * A chunk arrived with the verdict of checking it against the manifest. Only an `accepted`
   * chunk is to be stored; the driver says when it is (`chunkStored`) or that it was lost.
   */
  handleChunk(peer: PeerId, chunk: number, verdict: ChunkVerdict, now: number): ChunkOutcome {
    const s = this.scheduler
    if (s === null || !Number.isSafeInteger(chunk) || chunk < 0 || chunk >= this.chunkCount) return 'ignored'
    return s.handleChunk(this.neighbours.get(peer)?.ref ?? peer, chunk, verdict, now)
  }

  /** An accepted chunk could not be stored: it is fetched again. */
  handleChunkLost(chunk: number, now: number): void {
    this.scheduler?.handleChunkLost(chunk, now)
  }

  /** An accepted chunk is stored and may be served; it is announced at the next `announce()`. */
  chunkStored(chunk: number): void {
    if (this.holds(chunk)) return
    this.markHeld(chunk)
    this.fresh.push(chunk)
    this.freshForComplete.push(chunk)
  }

  handleTick(now: number): void {
    this.scheduler?.handleTick(now)
  }

  // ---- Announcing ----

  /** Whether chunks stored since the last `announce('all')` wait to be announced. */
  get hasNews(): boolean {
    return this.fresh.length > 0
  }

  /** Whether chunks wait to be announced to neighbours holding every chunk. */
  get hasNewsForComplete(): boolean {
    return this.freshForComplete.length > 0
  }

  /**
   * Sends have-updates of the chunks stored since neighbours were last told: to every
   * neighbour that told us it takes part, leaving out chunks it holds (it will never ask us
   * for those), except to a neighbour holding every chunk, which hears of all: it may be the
   * origin, whose super-seeding sends a chunk again only while it knows of no holder (left
   * out, the origin sent 1.9 image copies in the swarm benchmark's linkBound instead of 1.2).
   *
   * `scope` 'complete-holders' tells only neighbours holding every chunk, and the driver calls
   * it at the end of each turn that stored chunks; 'all' tells everyone, and the driver calls
   * it every HAVE_UPDATE_INTERVAL_MS while chunks wait, and when the download ends. Messages,
   * not bytes, were most of a device's CPU: one per chunk to each neighbour, each with its own
   * noise seal, yamux frame and window update back.
   *
   * `deliver`, when given, takes each have-update at once instead of the output queue (the
   * simulator hands them straight to the neighbour: a tenth of a large run's time otherwise).
   */
  announce(
    scope: 'all' | 'complete-holders' = 'all',
    deliver?: (peer: PeerId, chunks: readonly number[]) => void,
  ): void {
    const all = scope === 'all'
    const forPartial = all ? this.fresh : NONE
    const forComplete = this.freshForComplete
    if (forPartial.length === 0 && forComplete.length === 0) return
    if (all) this.fresh = []
    this.freshForComplete = []
    const s = this.scheduler
    const list = this.neighbourList
    for (let k = 0; k < list.length; k++) {
      const n = list[k]!
      if (!n.told || !n.heard) continue
      // Not downloading: who holds what is not tracked; everyone hears of everything once.
      const news = s === null ? forPartial : s.newsFor(n.ref ?? n.id, forPartial, forComplete)
      for (let i = 0; i < news.length; i += HAVE_UPDATE_CHUNKS_MAX) {
        const part = news.length <= HAVE_UPDATE_CHUNKS_MAX ? news : news.slice(i, i + HAVE_UPDATE_CHUNKS_MAX)
        if (deliver) deliver(n.id, part)
        else this.emit({ type: 'have-update', peer: n.id, chunks: part })
      }
    }
  }

  // ---- Uploads ----

  /** The next chunk to send, round robin among the neighbours waiting; undefined when none. */
  takeUpload(): UploadJob | undefined {
    return this.uploads.poll()
  }

  uploadSent(peer: PeerId, chunk: number): void {
    this.uploads.handleSent(peer, chunk)
  }

  get uploadsWaiting(): number {
    return this.uploads.waiting
  }

  get uploadsSending(): number {
    return this.uploads.sending
  }

  // ---- Outputs and state ----

  poll(): SessionOutput | undefined {
    if (this.outHead < this.out.length) {
      const next = this.out[this.outHead++]!
      if (this.outHead === this.out.length) {
        this.out.length = 0
        this.outHead = 0
      }
      return next
    }
    return this.scheduler?.poll()
  }

  nextTimeout(): number | undefined {
    return this.scheduler?.nextTimeout()
  }

  holds(chunk: number): boolean {
    return Number.isSafeInteger(chunk) && chunk >= 0 && chunk < this.chunkCount && getBit(this.held, chunk)
  }

  get chunksHeld(): number {
    return this.heldCount
  }

  isComplete(): boolean {
    return this.heldCount === this.chunkCount
  }

  /** Whether the download has every chunk accepted (stored or on its way to the store). */
  downloadAccepted(): boolean {
    return this.scheduler?.isComplete() ?? this.isComplete()
  }

  /** A copy of what we hold, for a `have`. */
  heldBitfield(): Uint8Array {
    return this.isComplete() ? fullBitfield(this.chunkCount) : new Uint8Array(this.held)
  }

  /** The download's scheduler, for status pages and tests; null when not downloading. */
  get swarm(): SwarmScheduler | null {
    return this.scheduler
  }

  // ---- Internals ----

  private tell(peer: PeerId): void {
    const n = this.neighbour(peer)
    if (n === undefined || n.told) return
    n.told = true
    this.emit({ type: 'have', peer, bitfield: this.heldBitfield() })
  }

  /** The neighbour's record, made at first contact; undefined beyond TRANSFER_NEIGHBOURS_MAX. */
  private neighbour(peer: PeerId): Neighbour | undefined {
    let n = this.neighbours.get(peer)
    if (n === undefined) {
      if (this.neighbours.size >= TRANSFER_NEIGHBOURS_MAX) return undefined
      n = { id: peer, told: false, heard: false, ref: undefined, at: this.neighbourList.length }
      this.neighbours.set(peer, n)
      this.neighbourList.push(n)
    }
    return n
  }

  private markHeld(chunk: number): void {
    setBit(this.held, chunk)
    this.heldCount++
  }

  private emit(out: SessionOutput): void {
    assert(
      this.out.length - this.outHead < SESSION_OUTPUTS_MAX,
      'the driver polls the session after every input',
    )
    this.out.push(out)
  }
}
