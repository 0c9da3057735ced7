/**
 * The swarm scheduler: which chunk to ask of which neighbour, and when to give up on one. A
 * sans-IO state machine (DESIGN.md §2): inputs come through `handle*` methods with the current
 * time, outputs (`request`, `cancel`, `ban`) are polled, and `nextTimeout()` tells the driver
 * when to call `handleTick`. No clock, timers, randomness of its own, I/O or hashing: chunk
 * verdicts come in with the chunk, randomness from the `Prng` handed in. The libp2p node and the
 * simulator drive this same object.
 *
 * Policy:
 * - rarest first, ties broken at random (picker.ts keeps waiting chunks by availability);
 * - per neighbour, a window of requests in flight that follows its measured rate;
 * - a request times out after a delay derived from that rate; the chunk goes back to the picker
 *   and is not asked of the same neighbour again while another one has it;
 * - end-game: once every missing chunk that anyone has is in flight, idle neighbours duplicate
 *   in-flight requests (up to ENDGAME_REQUESTS_PER_CHUNK_MAX per chunk), and the first good copy
 *   cancels the others;
 * - hedging: a request to a neighbour with no measured rate (it never delivered) that is still
 *   out after its hedge deadline (HEDGE_RATE_FACTOR times its place in that neighbour's queue
 *   at the best rate measured among the others, at least HEDGE_MIN_MS) is overdue: the chunk
 *   goes, before any other, to another neighbour that holds it (one copy more, within the
 *   end-game bound), the first good copy cancels the other, and the late neighbour's window
 *   drops to its minimum. Without it a neighbour that takes requests and never answers held
 *   its chunks until end-game or its 30 s timeout (docs/hardening.md, slow retrieval);
 * - stealing: before end-game, a neighbour with nothing waiting to give may duplicate a request
 *   that sits with a neighbour at least STEAL_RATE_RATIO_MIN times slower (one copy more, within
 *   the end-game bound); the first good copy cancels the other;
 * - a chunk failing its hash or truncated is a strike, so is a timeout (once per penalty); each
 *   strike resets the window to its minimum, and enough strikes ban the neighbour. A good chunk
 *   that arrives after its timeout is still accepted, and shows the neighbour is slow, not gone:
 *   its rate is measured from it and its stall count resets.
 *
 * Driving it: after every `handle*` call, `poll()` until it returns undefined and act on each
 * output, then arm one timer for `nextTimeout()` (if any) and call `handleTick(now)` when it
 * fires. Time must never go backwards. `request` means send a request message; `cancel` means
 * send a cancel; `ban` means the neighbour's requests were already taken back (no cancels are
 * emitted for them) and the node should stop talking chunks with it. A peer that leaves or is
 * banned gets no cancels either: its connection is gone or going.
 */
import { assert } from '../codec/assert.js'
import { err, ok, type Result } from '../codec/result.js'
import {
  BAD_CHUNK_STRIKES_MAX,
  BANNED_PEERS_MAX,
  ENDGAME_REQUESTS_PER_CHUNK_MAX,
  HEDGE_MIN_MS,
  HEDGE_RATE_FACTOR,
  PEER_BUSY_BACKOFF_MS,
  PEER_QUEUE_TARGET_MS,
  PEER_REQUESTS_IN_FLIGHT_INITIAL,
  PEER_REQUESTS_IN_FLIGHT_MAX,
  PEER_REQUESTS_IN_FLIGHT_MIN,
  PICKER_SCAN_BUDGET,
  REQUEST_TIMEOUT_INITIAL_MS,
  REQUEST_TIMEOUT_MAX_MS,
  REQUEST_TIMEOUT_MIN_MS,
  REQUEST_TIMEOUT_RATE_FACTOR,
  SCHEDULER_OUTPUTS_MAX,
  STALL_STRIKES_MAX,
  STEAL_RATE_RATIO_MIN,
  TRANSFER_PEERS_MAX,
} from '../constants.js'
import type { Prng } from '../prng.js'
import { checkBitfield, clearBit, getBit, setBit } from './bitfield.js'
import { DeadlineHeap } from './deadline-heap.js'
import type { ChunkVerdict } from './manifest.js'
import { ChunkPicker, PICK_BUDGET_SPENT, PICK_NONE } from './picker.js'

/** An opaque peer id (the node uses the libp2p peer id string; the simulator, any string). */
export type PeerId = string

/**
 * A joined neighbour as this scheduler holds it (`peerRef`), for a driver that tells it about
 * the same neighbour for every chunk anyone receives: it saves the lookup by id, which in a
 * 10,000-device simulation was a third of the have path's time (cache misses in the map).
 * Opaque; one that went stale (the neighbour left, or another scheduler made it) is looked up
 * by id again, so a stale reference behaves exactly like the id.
 */
export interface PeerRef {
  readonly id: PeerId
  readonly [peerRefBrand]: true
}
declare const peerRefBrand: unique symbol

export type BanReason = 'bad-chunks' | 'stalled'

export type SchedulerOutput =
  | { readonly type: 'request'; readonly peer: PeerId; readonly chunk: number }
  | { readonly type: 'cancel'; readonly peer: PeerId; readonly chunk: number }
  | { readonly type: 'ban'; readonly peer: PeerId; readonly reason: BanReason }

/** Why an input about a peer was refused; the node logs it and may penalise the connection. */
export type PeerInputError =
  | { readonly code: 'unknown-peer'; readonly message: string }
  | { readonly code: 'banned-peer'; readonly message: string }
  | { readonly code: 'already-joined'; readonly message: string }
  | { readonly code: 'too-many-peers'; readonly message: string }
  | { readonly code: 'bad-bitfield'; readonly message: string }
  | { readonly code: 'bad-chunk-index'; readonly message: string }

/**
 * What became of an arrived chunk. Only `accepted` chunks are to be written to the store;
 * `duplicate` is a good copy of a chunk already held, `rejected` a bad one (a strike),
 * `ignored` came from a peer that is unknown or banned.
 */
export type ChunkOutcome = 'accepted' | 'duplicate' | 'rejected' | 'ignored'

export interface SchedulerOptions {
  readonly peersMax: number
  readonly windowMin: number
  readonly windowInitial: number
  readonly windowMax: number
  readonly queueTargetMs: number
  readonly requestTimeoutInitialMs: number
  readonly requestTimeoutMinMs: number
  readonly requestTimeoutMaxMs: number
  readonly requestTimeoutRateFactor: number
  readonly badChunkStrikesMax: number
  readonly stallStrikesMax: number
  readonly endgameRequestsPerChunkMax: number
  readonly busyBackoffMs: number
  readonly bannedPeersMax: number
  readonly scanBudget: number
  /** See STEAL_RATE_RATIO_MIN; 0 turns stealing off. */
  readonly stealRateRatio: number
  /** See HEDGE_RATE_FACTOR; 0 turns hedging off. */
  readonly hedgeRateFactor: number
  /** See HEDGE_MIN_MS. */
  readonly hedgeMinMs: number
}

export const DEFAULT_SCHEDULER_OPTIONS: SchedulerOptions = {
  peersMax: TRANSFER_PEERS_MAX,
  windowMin: PEER_REQUESTS_IN_FLIGHT_MIN,
  windowInitial: PEER_REQUESTS_IN_FLIGHT_INITIAL,
  windowMax: PEER_REQUESTS_IN_FLIGHT_MAX,
  queueTargetMs: PEER_QUEUE_TARGET_MS,
  requestTimeoutInitialMs: REQUEST_TIMEOUT_INITIAL_MS,
  requestTimeoutMinMs: REQUEST_TIMEOUT_MIN_MS,
  requestTimeoutMaxMs: REQUEST_TIMEOUT_MAX_MS,
  requestTimeoutRateFactor: REQUEST_TIMEOUT_RATE_FACTOR,
  badChunkStrikesMax: BAD_CHUNK_STRIKES_MAX,
  stallStrikesMax: STALL_STRIKES_MAX,
  endgameRequestsPerChunkMax: ENDGAME_REQUESTS_PER_CHUNK_MAX,
  busyBackoffMs: PEER_BUSY_BACKOFF_MS,
  bannedPeersMax: BANNED_PEERS_MAX,
  scanBudget: PICKER_SCAN_BUDGET,
  stealRateRatio: STEAL_RATE_RATIO_MIN,
  hedgeRateFactor: HEDGE_RATE_FACTOR,
  hedgeMinMs: HEDGE_MIN_MS,
}

/** The one success value of the `Result<void, …>` inputs (read-only; saves an allocation per call). */
const OK: Result<void, never> = ok(undefined)

/** Weight of a new sample in a neighbour's rate estimate (an exponential moving average). */
const RATE_SAMPLE_WEIGHT = 0.25

/** A read-only view of one neighbour, for the node's status page and for tests. */
export interface PeerView {
  readonly id: PeerId
  readonly inFlight: number
  readonly window: number
  /** Measured rate in chunks per millisecond; 0 until the first chunk arrives. */
  readonly rate: number
  readonly badStrikes: number
  readonly stallStrikes: number
  readonly chunksHeld: number
  /** Its requests that went overdue and were asked of another neighbour too (hedged). */
  readonly overdue: number
}

interface Request {
  readonly id: number
  readonly sentAt: number
  readonly deadline: number
  /** Requests to this neighbour ahead of it, itself included, when it was sent. */
  readonly place: number
  /** Past its hedge deadline: the chunk may be asked of another neighbour. */
  overdue: boolean
}

class Peer {
  readonly inflight = new Map<number, Request>()
  /**
   * When each recently timed-out request was sent (at most a window's worth), to measure a late
   * answer. Made at the first timeout: most peers never have one, and a fleet simulation holds
   * ~16 peers for each of 100,000 schedulers.
   */
  timedOut: Map<number, number> | null = null
  haveCount = 0
  window: number
  rate = 0
  lastDeliveryAt = Number.NEGATIVE_INFINITY
  badStrikes = 0
  stallStrikes = 0
  /** Requests of its that went overdue (hedged), for status and tests. */
  overdue = 0
  penalizedAt = Number.NEGATIVE_INFINITY
  backoffUntil = Number.NEGATIVE_INFINITY
  /** Nothing to ask of it until a chunk it holds becomes requestable. */
  starved = false
  present = true

  constructor(
    readonly owner: SwarmScheduler,
    readonly id: PeerId,
    readonly serial: number,
    readonly have: Uint8Array,
    windowInitial: number,
  ) {
    this.window = windowInitial
  }
}

interface TimerEntry {
  readonly at: number
  readonly seq: number
  readonly peer: Peer
  /** A request's chunk, or -1 for the end of a busy back-off. */
  readonly chunk: number
  readonly requestId: number
  /** The request's hedge deadline rather than its timeout. */
  readonly hedge: boolean
}

export interface SchedulerInit {
  readonly chunkCount: number
  readonly prng: Prng
  /** Chunks already held (a resumed download), in bitfield.ts layout. */
  readonly held?: Uint8Array
  readonly options?: Partial<SchedulerOptions>
}

export class SwarmScheduler {
  readonly chunkCount: number
  private readonly options: SchedulerOptions
  private readonly prng: Prng
  private readonly held: Uint8Array
  private heldChunks = 0
  private readonly picker: ChunkPicker
  /** Requests outstanding per chunk (more than one only in end-game or after a steal). */
  private readonly requestCount: Uint8Array
  /**
   * The measured rate of the peer a chunk's only request went to, when it was asked (0: not
   * known, or not in flight): a much faster idle peer may take the chunk over (`selectSteal`).
   */
  private readonly askedRate: Float64Array
  /** Requests out per chunk that are overdue (see `hedge`). */
  private readonly overdueCount: Uint8Array
  /** Chunks that had an overdue request out, oldest first; pruned as they are read. */
  private overdueList: number[] = []
  /** Serial of the peer a chunk last failed or timed out at; -1 for none. */
  private readonly lastFailedAt: Float64Array
  /** The picker's membership as a bitfield, so a sweep skips eight chunks per byte. */
  private readonly waiting: Uint8Array
  /** Chunks with a request out, as an array (for sampling from a random offset) and each one's index in it. */
  private readonly inflightList: number[] = []
  private readonly inflightIndex: Int32Array
  private readonly peers = new Map<PeerId, Peer>()
  private readonly wantsWork = new Set<Peer>()
  private readonly banned = new Set<PeerId>()
  private readonly timers = new DeadlineHeap<TimerEntry>()
  private totalInflight = 0
  private readonly outputs: SchedulerOutput[] = []
  private outputHead = 0
  private now = Number.NEGATIVE_INFINITY
  private nextSerial = 0
  private nextRequestId = 0
  private nextTimerSeq = 0
  /** The peer `select` is choosing a chunk for, which `acceptForSelecting` reads. */
  private selecting: Peer | null = null
  /**
   * Whether the picker may hand the peer being served a chunk: it holds it, and it is not the
   * peer that just failed this chunk, unless no one else has it. One function per scheduler
   * (a closure per peer cost ~100 bytes each, times ~16 peers, times 100,000 simulated devices).
   */
  private readonly acceptForSelecting = (c: number): boolean => {
    const peer = this.selecting!
    return getBit(peer.have, c) && !(this.lastFailedAt[c] === peer.serial && this.picker.availability(c) > 1)
  }

  constructor(init: SchedulerInit) {
    this.options = { ...DEFAULT_SCHEDULER_OPTIONS, ...init.options }
    const o = this.options
    assert(o.windowMin >= 1, 'the minimum window is at least one request')
    assert(o.windowMin <= o.windowInitial, 'the initial window is at least the minimum')
    assert(o.windowInitial <= o.windowMax, 'the initial window is at most the maximum')
    assert(
      o.endgameRequestsPerChunkMax >= 1 && o.endgameRequestsPerChunkMax < 256,
      'end-game copies fit a byte',
    )
    this.chunkCount = init.chunkCount
    this.prng = init.prng
    this.picker = new ChunkPicker(init.chunkCount, o.peersMax)
    this.waiting = new Uint8Array(Math.ceil(init.chunkCount / 8))
    this.requestCount = new Uint8Array(init.chunkCount)
    this.overdueCount = new Uint8Array(init.chunkCount)
    this.lastFailedAt = new Float64Array(init.chunkCount).fill(-1)
    this.askedRate = new Float64Array(init.chunkCount)
    this.inflightIndex = new Int32Array(init.chunkCount).fill(-1)
    if (init.held) {
      assert(checkBitfield(init.held, init.chunkCount).ok, 'the held bitfield fits the chunk count')
      this.held = new Uint8Array(init.held)
    } else {
      this.held = new Uint8Array(Math.ceil(init.chunkCount / 8))
    }
    for (let c = 0; c < init.chunkCount; c++) {
      if (getBit(this.held, c)) this.heldChunks++
      else this.addWaiting(c)
    }
  }

  // ---- Inputs ----

  /** A neighbour opened the chunk protocol and sent its have bitfield. */
  handlePeerJoined(peerId: PeerId, bitfield: Uint8Array, now: number): Result<void, PeerInputError> {
    this.advance(now)
    if (this.banned.has(peerId)) return err({ code: 'banned-peer', message: `${peerId} is banned` })
    if (this.peers.has(peerId)) return err({ code: 'already-joined', message: `${peerId} already joined` })
    if (this.peers.size >= this.options.peersMax) {
      return err({ code: 'too-many-peers', message: `already ${this.peers.size} peers` })
    }
    const checked = checkBitfield(bitfield, this.chunkCount)
    if (!checked.ok) return err({ code: 'bad-bitfield', message: checked.error.message })
    const peer = new Peer(
      this,
      peerId,
      this.nextSerial++,
      new Uint8Array(bitfield),
      this.options.windowInitial,
    )
    this.peers.set(peerId, peer)
    for (let byte = 0; byte < peer.have.length; byte++) {
      const bits = peer.have[byte]!
      if (bits === 0) continue
      for (let b = 0; b < 8; b++) {
        if ((bits >>> (7 - b)) & 1) {
          this.picker.increment(byte * 8 + b)
          peer.haveCount++
        }
      }
    }
    this.refresh(peer)
    this.fill()
    return ok(undefined)
  }

  /** A neighbour announced chunks it has come to hold. */
  handlePeerHave(
    from: PeerId | PeerRef,
    chunks: readonly number[],
    now: number,
  ): Result<void, PeerInputError> {
    this.advance(now)
    const peer = this.resolve(from)
    if (!peer) return this.unknown(typeof from === 'string' ? from : from.id)
    // The hot path of a swarm (every chunk anyone receives reaches each of its neighbours):
    // bit arithmetic inline, and the peer put on the work list once, after the loop.
    const { have } = peer
    const { held, picker, requestCount } = this
    let wants = false
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i]!
      if (!this.inRange(chunk)) {
        if (wants) this.unstarve(peer)
        this.fill()
        return err({ code: 'bad-chunk-index', message: `chunk ${chunk} of ${this.chunkCount}` })
      }
      const byte = chunk >>> 3
      const mask = 0x80 >>> (chunk & 7)
      if ((have[byte]! & mask) !== 0) continue
      have[byte] = have[byte]! | mask
      peer.haveCount++
      picker.increment(chunk)
      if ((held[byte]! & mask) === 0 && (picker.has(chunk) || requestCount[chunk]! > 0)) wants = true
    }
    if (wants) this.unstarve(peer)
    this.fill()
    return OK
  }

  /**
   * A chunk arrived from a neighbour, with the verdict of checking it against the manifest.
   * A good copy is accepted whether or not it was asked of this neighbour (valid bytes are
   * valid); a bad one is a strike either way.
   */
  handleChunk(from: PeerId | PeerRef, chunk: number, verdict: ChunkVerdict, now: number): ChunkOutcome {
    this.advance(now)
    const peer = this.resolve(from)
    if (!peer) return 'ignored'
    if (!this.inRange(chunk) || verdict !== 'ok') {
      if (this.inRange(chunk) && peer.inflight.has(chunk)) this.release(peer, chunk, true)
      this.strikeBadChunk(peer)
      this.fill()
      return 'rejected'
    }
    const request = peer.inflight.get(chunk)
    const late = peer.timedOut?.get(chunk)
    if (request) {
      this.measure(peer, request.sentAt, now)
      this.dropRequest(peer, chunk)
      peer.timedOut?.delete(chunk)
      this.refresh(peer)
    } else if (late !== undefined) {
      // An answer after its timeout: the peer is slow, not gone. Its rate (and so its next
      // timeouts) adapt, and its stall count resets.
      peer.timedOut?.delete(chunk)
      this.measure(peer, late, now)
      this.refresh(peer)
    }
    if (getBit(this.held, chunk)) {
      this.fill()
      return 'duplicate'
    }
    this.markHeld(chunk)
    this.fill()
    return 'accepted'
  }

  /**
   * A neighbour will not answer a request: it does not hold the chunk (its have bit is cleared,
   * so it is not asked again until it announces the chunk anew) or it is busy (it gets no
   * requests for PEER_BUSY_BACKOFF_MS). Neither is a strike.
   */
  handleNotFound(
    peerId: PeerId,
    chunk: number,
    reason: 'not-held' | 'busy',
    now: number,
  ): Result<void, PeerInputError> {
    this.advance(now)
    const peer = this.peers.get(peerId)
    if (!peer) return this.unknown(peerId)
    if (!this.inRange(chunk))
      return err({ code: 'bad-chunk-index', message: `chunk ${chunk} of ${this.chunkCount}` })
    if (!peer.inflight.has(chunk)) return ok(undefined)
    if (reason === 'not-held' && getBit(peer.have, chunk)) {
      clearBit(peer.have, chunk)
      peer.haveCount--
      this.picker.decrement(chunk)
    }
    if (reason === 'busy') {
      peer.window = this.options.windowMin
      peer.backoffUntil = now + this.options.busyBackoffMs
      this.pushTimer(peer.backoffUntil, peer, -1, -1)
    }
    this.release(peer, chunk, true)
    this.fill()
    return ok(undefined)
  }

  /** Time passed: requests past their deadline time out, busy back-offs end. */
  handleTick(now: number): void {
    this.advance(now)
    for (;;) {
      const top = this.timers.peek()
      if (top === undefined || top.at > now) break
      this.timers.pop()
      if (!this.isLive(top)) continue
      if (top.chunk < 0) {
        this.refresh(top.peer)
        continue
      }
      if (top.hedge) this.hedge(top.peer, top.chunk)
      else this.timeOut(top.peer, top.chunk, top.requestId)
    }
    this.fill()
  }

  /** A neighbour went away: its requests return to the picker, its chunks stop counting. */
  handlePeerLeft(peerId: PeerId, now: number): Result<void, PeerInputError> {
    this.advance(now)
    const peer = this.peers.get(peerId)
    if (!peer) return this.unknown(peerId)
    this.remove(peer)
    this.fill()
    return ok(undefined)
  }

  /**
   * The driver could not keep an accepted chunk (the store failed to write it): it is missing
   * again and will be fetched anew.
   */
  handleChunkLost(chunk: number, now: number): void {
    this.advance(now)
    assert(this.inRange(chunk), 'a lost chunk is one of ours')
    if (!getBit(this.held, chunk)) return
    clearBit(this.held, chunk)
    this.heldChunks--
    this.addWaiting(chunk)
    this.offer(chunk)
    this.fill()
  }

  // ---- Outputs and queries ----

  /** The next output, or undefined when there is none. */
  poll(): SchedulerOutput | undefined {
    if (this.outputHead === this.outputs.length) return undefined
    const out = this.outputs[this.outputHead++]!
    if (this.outputHead === this.outputs.length) {
      this.outputs.length = 0
      this.outputHead = 0
    }
    return out
  }

  /** Every pending output, in order. */
  drain(): SchedulerOutput[] {
    const out = this.outputs.slice(this.outputHead)
    this.outputs.length = 0
    this.outputHead = 0
    return out
  }

  /** When `handleTick` must be called next, or undefined when no request or back-off is pending. */
  nextTimeout(): number | undefined {
    for (;;) {
      const top = this.timers.peek()
      if (top === undefined) return undefined
      if (this.isLive(top)) return top.at
      this.timers.pop()
    }
  }

  isComplete(): boolean {
    return this.heldChunks === this.chunkCount
  }

  get chunksHeld(): number {
    return this.heldChunks
  }

  hasChunk(chunk: number): boolean {
    return this.inRange(chunk) && getBit(this.held, chunk)
  }

  /** A copy of the held set, in bitfield.ts layout. */
  heldBitfield(): Uint8Array {
    return new Uint8Array(this.held)
  }

  isBanned(peerId: PeerId): boolean {
    return this.banned.has(peerId)
  }

  /** Requests in flight across all neighbours. */
  get requestsInFlight(): number {
    return this.totalInflight
  }

  /** The joined neighbour `peerId` as a reference (see PeerRef), or undefined. */
  peerRef(peerId: PeerId): PeerRef | undefined {
    return this.peers.get(peerId) as PeerRef | undefined
  }

  peer(peerId: PeerId): PeerView | undefined {
    const p = this.peers.get(peerId)
    if (!p) return undefined
    return {
      id: p.id,
      inFlight: p.inflight.size,
      window: p.window,
      rate: p.rate,
      badStrikes: p.badStrikes,
      stallStrikes: p.stallStrikes,
      chunksHeld: p.haveCount,
      overdue: p.overdue,
    }
  }

  /** Whether a joined neighbour has said it holds `chunk` (false for one not joined). */
  peerHas(from: PeerId | PeerRef, chunk: number): boolean {
    const p = this.resolve(from)
    return p !== undefined && this.inRange(chunk) && getBit(p.have, chunk)
  }

  /**
   * What to announce to a neighbour: `complete` when it holds every chunk (the transfer session
   * tells a complete holder of every new chunk: see its `announce`), otherwise the chunks of
   * `partial` it has not said it holds (the same array when it lacks them all, or is not
   * joined). Announcing news is the hot path of a swarm: the neighbour is resolved once, and
   * nothing is allocated unless needed.
   */
  newsFor(
    from: PeerId | PeerRef,
    partial: readonly number[],
    complete: readonly number[],
  ): readonly number[] {
    const p = this.resolve(from)
    if (p === undefined) return partial
    if (p.haveCount === this.chunkCount) return complete
    if (p.haveCount === 0 || partial.length === 0) return partial
    const { have } = p
    let lacking: number[] | null = null
    for (let i = 0; i < partial.length; i++) {
      const c = partial[i]!
      const held = this.inRange(c) && (have[c >>> 3]! & (0x80 >>> (c & 7))) !== 0
      if (held) {
        if (lacking === null) lacking = partial.slice(0, i)
      } else if (lacking !== null) {
        lacking.push(c)
      }
    }
    return lacking ?? partial
  }

  /** Chunks a joined neighbour has said it holds; undefined for one not joined. */
  peerChunksHeld(from: PeerId | PeerRef): number | undefined {
    return this.resolve(from)?.haveCount
  }

  peerIds(): PeerId[] {
    return [...this.peers.keys()]
  }

  /** Checks every internal invariant; O(chunks × peers), for tests and simulator debug runs. */
  checkInvariants(): void {
    this.picker.checkInvariants()
    const o = this.options
    let held = 0
    for (let c = 0; c < this.chunkCount; c++) {
      const isHeld = getBit(this.held, c)
      if (isHeld) held++
      let requests = 0
      let avail = 0
      for (const peer of this.peers.values()) {
        if (peer.inflight.has(c)) requests++
        if (getBit(peer.have, c)) avail++
      }
      assert(requests === this.requestCount[c], 'request count matches the peers’ in-flight requests')
      assert(requests <= o.endgameRequestsPerChunkMax, 'copies of one request within the end-game bound')
      assert(!isHeld || requests === 0, 'no request is outstanding for a held chunk')
      assert(avail === this.picker.availability(c), 'availability matches the peers’ bitfields')
      assert(this.picker.has(c) === (!isHeld && requests === 0), 'waiting = neither held nor requested')
      assert(this.picker.has(c) === getBit(this.waiting, c), 'the waiting bitfield mirrors the picker')
      assert(this.inflightIndex[c]! >= 0 === requests > 0, 'in-flight chunk list matches the requests')
      let overdue = 0
      for (const peer of this.peers.values()) if (peer.inflight.get(c)?.overdue) overdue++
      assert(overdue === this.overdueCount[c], 'overdue count matches the overdue requests')
      if (requests > 0)
        assert(this.inflightList[this.inflightIndex[c]!] === c, 'in-flight index points at the chunk')
    }
    assert(held === this.heldChunks, 'held count matches the bitfield')
    for (const peer of this.peers.values()) {
      assert(peer.inflight.size <= o.windowMax, 'requests in flight within the maximum window')
      assert(peer.window >= o.windowMin && peer.window <= o.windowMax, 'window within its bounds')
      for (const chunk of peer.inflight.keys())
        assert(getBit(peer.have, chunk), 'only a held chunk is requested')
      assert(!this.banned.has(peer.id), 'a banned peer is not among the peers')
    }
    assert(this.outputs.length - this.outputHead <= SCHEDULER_OUTPUTS_MAX, 'outputs within their bound')
  }

  // ---- Internals ----

  private addWaiting(chunk: number): void {
    this.picker.add(chunk)
    setBit(this.waiting, chunk)
  }

  private removeWaiting(chunk: number): void {
    this.picker.remove(chunk)
    clearBit(this.waiting, chunk)
  }

  private advance(now: number): void {
    assert(Number.isFinite(now), 'time is a finite number')
    assert(now >= this.now, 'time does not go backwards')
    this.now = now
  }

  private inRange(chunk: number): boolean {
    return Number.isSafeInteger(chunk) && chunk >= 0 && chunk < this.chunkCount
  }

  private unknown(peerId: PeerId): Result<void, PeerInputError> {
    if (this.banned.has(peerId)) return err({ code: 'banned-peer', message: `${peerId} is banned` })
    return err({ code: 'unknown-peer', message: `${peerId} has not joined` })
  }

  private emit(out: SchedulerOutput): void {
    assert(this.outputs.length - this.outputHead < SCHEDULER_OUTPUTS_MAX, 'the driver drains outputs')
    this.outputs.push(out)
  }

  private pushTimer(at: number, peer: Peer, chunk: number, requestId: number, hedge = false): void {
    this.timers.push({ at, seq: this.nextTimerSeq++, peer, chunk, requestId, hedge })
    // Answered requests leave dead entries behind; drop them before they outnumber the live
    // ones (at most one per request in flight and one back-off per peer).
    if (this.timers.size > 2 * (this.totalInflight + this.peers.size) + 64)
      this.timers.compact((e) => this.isLive(e))
  }

  private isLive(entry: TimerEntry): boolean {
    if (!entry.peer.present) return false
    if (entry.chunk < 0) return entry.peer.backoffUntil === entry.at
    const request = entry.peer.inflight.get(entry.chunk)
    if (request?.id !== entry.requestId) return false
    // A hedge deadline matters until the request is overdue or the peer shows a rate.
    return !entry.hedge || (!request.overdue && entry.peer.rate <= 0)
  }

  /** The peer holds a chunk it could be asked for: it may have work again. */
  private unstarve(peer: Peer): void {
    peer.starved = false
    this.refresh(peer)
  }

  /** Puts a peer on the work list when it can take another request. */
  private refresh(peer: Peer): void {
    if (peer.present && !peer.starved && peer.inflight.size < peer.window && this.now >= peer.backoffUntil) {
      this.wantsWork.add(peer)
    }
  }

  /** A chunk became requestable (again): every peer holding it may have work. */
  private offer(chunk: number): void {
    for (const peer of this.peers.values()) {
      if (peer.starved && getBit(peer.have, chunk)) {
        peer.starved = false
        this.refresh(peer)
      }
    }
  }

  private unstarveAll(): void {
    for (const peer of this.peers.values()) {
      peer.starved = false
      this.refresh(peer)
    }
  }

  /** Issues requests to every peer with room in its window until none can take more. */
  private fill(): void {
    if (this.wantsWork.size === 0) return
    for (const peer of this.wantsWork) {
      while (peer.inflight.size < peer.window && this.now >= peer.backoffUntil) {
        const chunk = this.select(peer)
        if (chunk < 0) {
          peer.starved = true
          break
        }
        this.issue(peer, chunk)
      }
      this.wantsWork.delete(peer)
    }
  }

  private select(peer: Peer): number {
    if (this.overdueList.length > 0) {
      const chunk = this.selectOverdue(peer)
      if (chunk !== PICK_NONE) return chunk
    }
    if (this.picker.hasRequestable()) {
      this.selecting = peer
      let chunk = this.picker.scan(this.prng, this.acceptForSelecting, this.options.scanBudget)
      if (chunk === PICK_BUDGET_SPENT) chunk = this.sweep(peer, this.acceptForSelecting)
      if (chunk !== PICK_NONE) return chunk
      return this.selectSteal(peer)
    }
    return this.selectEndgame(peer)
  }

  /** The rarest waiting chunk among the peer's own, by a pass over its bitfield. */
  private sweep(peer: Peer, accept: (c: number) => boolean): number {
    let best = PICK_NONE
    let bestAvail = Number.POSITIVE_INFINITY
    let ties = 0
    for (let byte = 0; byte < peer.have.length; byte++) {
      const bits = peer.have[byte]! & this.waiting[byte]!
      if (bits === 0) continue
      for (let b = 0; b < 8; b++) {
        if (((bits >>> (7 - b)) & 1) === 0) continue
        const c = byte * 8 + b
        if (!accept(c)) continue
        const a = this.picker.availability(c)
        if (a < bestAvail) {
          best = c
          bestAvail = a
          ties = 1
        } else if (a === bestAvail) {
          ties++
          if (this.prng.int(ties) === 0) best = c
        }
      }
    }
    return best
  }

  /** End-game: an in-flight chunk the peer holds and has not been asked for, least duplicated first. */
  /**
   * End-game: an in-flight chunk the peer holds and has not been asked for, least duplicated
   * first. The in-flight list is read from a random offset; the search stops at the first chunk
   * with a single request out, or once PICKER_SCAN_BUDGET entries are read and something was
   * found, so a step costs O(budget) while most chunks have one copy out.
   */
  private selectEndgame(peer: Peer): number {
    const list = this.inflightList
    const n = list.length
    if (n === 0) return PICK_NONE
    const max = this.options.endgameRequestsPerChunkMax
    let best = PICK_NONE
    let bestCount = max
    let ties = 0
    const offset = this.prng.int(n)
    for (let i = 0; i < n; i++) {
      if (best !== PICK_NONE && (bestCount === 1 || i >= this.options.scanBudget)) break
      let j = offset + i
      if (j >= n) j -= n
      const c = list[j]!
      const count = this.requestCount[c]!
      if (count >= max || count > bestCount || !getBit(peer.have, c) || peer.inflight.has(c)) continue
      if (this.lastFailedAt[c] === peer.serial) continue
      if (count < bestCount) {
        best = c
        bestCount = count
        ties = 1
      } else {
        ties++
        if (this.prng.int(ties) === 0) best = c
      }
    }
    return best
  }

  /**
   * A peer with nothing waiting to give may take over a chunk whose one request sits with a
   * peer at least `stealRateRatio` times slower (by the rates measured when each was asked): a
   * second request, and the first copy to arrive cancels the other. Without it, a slow
   * neighbour keeps the chunks it was asked for for seconds while fast neighbours that hold
   * them idle. In a 1k heterogeneous simulation, LAN uplinks sat idle a fifth of the time
   * mid-rollout; at those moments 63 % of their downloaders lacked only chunks already in
   * flight elsewhere. The slowest such holder is taken from first; at most PICKER_SCAN_BUDGET
   * in-flight chunks are read, from a random offset.
   */
  private selectSteal(peer: Peer): number {
    const ratio = this.options.stealRateRatio
    if (ratio <= 0 || peer.rate <= 0 || this.options.endgameRequestsPerChunkMax < 2) return PICK_NONE
    const list = this.inflightList
    const n = list.length
    if (n === 0) return PICK_NONE
    const limit = peer.rate / ratio
    let best = PICK_NONE
    let bestRate = limit
    const offset = this.prng.int(n)
    const budget = Math.min(n, this.options.scanBudget)
    for (let i = 0; i < budget; i++) {
      let j = offset + i
      if (j >= n) j -= n
      const c = list[j]!
      const rate = this.askedRate[c]!
      if (rate <= 0 || rate >= bestRate || this.requestCount[c] !== 1) continue
      if (!getBit(peer.have, c) || peer.inflight.has(c) || this.lastFailedAt[c] === peer.serial) continue
      best = c
      bestRate = rate
    }
    return best
  }

  /**
   * A chunk whose only requests out are overdue, that this peer holds and was not asked for:
   * the oldest such first. Chunks no longer overdue (held, answered, given up) leave the list
   * as they are read. The peer that last failed the chunk may take it only when every other
   * holder was asked already: the staller "holds" it too, so by the picker's rule a chunk
   * refused "busy" by the origin went back to the staller; now the origin is asked again after
   * its back-off (and serves at the third refusal, seed-policy.ts).
   */
  private selectOverdue(peer: Peer): number {
    const list = this.overdueList
    const max = this.options.endgameRequestsPerChunkMax
    let kept = 0
    let found = PICK_NONE
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!
      const count = this.requestCount[c]!
      if (this.overdueCount[c] === 0 || getBit(this.held, c)) continue
      list[kept++] = c
      if (found !== PICK_NONE || count > this.overdueCount[c]! || count >= max) continue
      if (!getBit(peer.have, c) || peer.inflight.has(c)) continue
      // The peer that last failed it only when no holder is left unasked but this one.
      if (this.lastFailedAt[c] === peer.serial && this.picker.availability(c) - count > 1) continue
      found = c
    }
    list.length = kept
    return found
  }

  private issue(peer: Peer, chunk: number): void {
    assert(!getBit(this.held, chunk), 'a held chunk is never requested')
    assert(getBit(peer.have, chunk), 'a chunk is requested only of a peer that has it')
    assert(peer.inflight.size < peer.window, 'a request fits the peer’s window')
    assert(!peer.inflight.has(chunk), 'one request per chunk per peer')
    const fromPicker = this.picker.has(chunk)
    if (fromPicker) this.removeWaiting(chunk)
    this.askedRate[chunk] = this.requestCount[chunk] === 0 ? peer.rate : 0
    this.requestCount[chunk] = this.requestCount[chunk]! + 1
    if (this.inflightIndex[chunk] === -1) {
      this.inflightIndex[chunk] = this.inflightList.length
      this.inflightList.push(chunk)
    }
    this.totalInflight++
    const request: Request = {
      id: this.nextRequestId++,
      sentAt: this.now,
      deadline: this.now + this.timeoutFor(peer),
      place: peer.inflight.size + 1,
      overdue: false,
    }
    peer.inflight.set(chunk, request)
    this.pushTimer(request.deadline, peer, chunk, request.id)
    // A peer with no measured rate may be a staller: its request is hedged once overdue.
    if (peer.rate <= 0 && this.options.hedgeRateFactor > 0)
      this.pushTimer(this.now + this.options.hedgeMinMs, peer, chunk, request.id, true)
    this.emit({ type: 'request', peer: peer.id, chunk })
    // The last requestable chunk just left the picker: end-game begins, idle peers may duplicate.
    if (fromPicker && !this.picker.hasRequestable()) this.unstarveAll()
  }

  /**
   * A hedge deadline of a request to a peer with no measured rate came: the request is overdue
   * once it has waited HEDGE_RATE_FACTOR times its place in the peer's queue at the best rate
   * measured among the other peers (what one chunk takes from a neighbour that delivers), and
   * at least HEDGE_MIN_MS. Until some peer has a rate, it is checked again every HEDGE_MIN_MS.
   * Overdue, the chunk goes to another holder first (`selectOverdue`) and the late peer's window
   * to its minimum; its own request stays out, so a slow honest peer's copy still counts.
   */
  private hedge(peer: Peer, chunk: number): void {
    const request = peer.inflight.get(chunk)!
    const o = this.options
    let best = 0
    for (const other of this.peers.values()) if (other !== peer && other.rate > best) best = other.rate
    if (best <= 0) {
      this.pushTimer(this.now + o.hedgeMinMs, peer, chunk, request.id, true)
      return
    }
    const due = request.sentAt + Math.max(o.hedgeMinMs, Math.ceil((o.hedgeRateFactor * request.place) / best))
    if (due > this.now) {
      this.pushTimer(due, peer, chunk, request.id, true)
      return
    }
    request.overdue = true
    peer.overdue++
    peer.window = o.windowMin
    if (this.overdueCount[chunk] === 0) this.overdueList.push(chunk)
    this.overdueCount[chunk] = this.overdueCount[chunk]! + 1
    // Every other holder may take it now, starved or not.
    for (const other of this.peers.values()) {
      if (other !== peer && getBit(other.have, chunk)) {
        other.starved = false
        this.refresh(other)
      }
    }
  }

  private timeoutFor(peer: Peer): number {
    const o = this.options
    if (peer.rate <= 0) return o.requestTimeoutInitialMs
    const queueMs = (o.requestTimeoutRateFactor * (peer.inflight.size + 1)) / peer.rate
    return Math.min(o.requestTimeoutMaxMs, Math.max(o.requestTimeoutMinMs, Math.ceil(queueMs)))
  }

  /** Updates a peer's rate from a delivery and sizes its window to match. */
  private measure(peer: Peer, sentAt: number, now: number): void {
    // The time this chunk took once the peer could work on it: since it was asked for, or since
    // the previous delivery if the peer was busy with that one (requests are served in order).
    const serviceMs = Math.max(1, now - Math.max(sentAt, peer.lastDeliveryAt))
    const sample = 1 / serviceMs
    peer.rate = peer.rate === 0 ? sample : peer.rate + RATE_SAMPLE_WEIGHT * (sample - peer.rate)
    peer.lastDeliveryAt = now
    peer.stallStrikes = 0
    this.sizeWindow(peer)
  }

  private sizeWindow(peer: Peer): void {
    const o = this.options
    peer.window = Math.min(o.windowMax, Math.max(o.windowMin, Math.ceil(peer.rate * o.queueTargetMs)))
  }

  /**
   * Ends a peer's request for a chunk. Unless the chunk is held, it becomes requestable again
   * (or, in end-game, open to one more copy); after a failure it is not asked of this peer
   * again while someone else has it.
   */
  private release(peer: Peer, chunk: number, failed: boolean): void {
    const count = this.dropRequest(peer, chunk)
    if (failed) this.lastFailedAt[chunk] = peer.serial
    if (!getBit(this.held, chunk)) {
      if (count === 0) this.addWaiting(chunk)
      this.offer(chunk)
    }
    this.refresh(peer)
  }

  /** Forgets a request; returns the requests for the chunk still outstanding elsewhere. */
  private dropRequest(peer: Peer, chunk: number): number {
    const request = peer.inflight.get(chunk)
    assert(request !== undefined && peer.inflight.delete(chunk), 'a dropped request was in flight')
    if (request.overdue) this.overdueCount[chunk] = this.overdueCount[chunk]! - 1
    const count = this.requestCount[chunk]! - 1
    this.requestCount[chunk] = count
    if (count === 0) {
      // Swap-remove from the in-flight list.
      const at = this.inflightIndex[chunk]!
      const last = this.inflightList.pop()!
      if (last !== chunk) {
        this.inflightList[at] = last
        this.inflightIndex[last] = at
      }
      this.inflightIndex[chunk] = -1
    }
    this.totalInflight--
    return count
  }

  private markHeld(chunk: number): void {
    setBit(this.held, chunk)
    this.heldChunks++
    if (this.picker.has(chunk)) this.removeWaiting(chunk)
    if (this.requestCount[chunk]! > 0) {
      for (const other of this.peers.values()) {
        const request = other.inflight.get(chunk)
        if (request === undefined) continue
        // A copy from an overdue peer may still come: measured as a late answer, like one after
        // a timeout, so a slow honest peer gets a rate and is no longer hedged.
        if (request.overdue) this.rememberLate(other, chunk, request.sentAt)
        this.release(other, chunk, false)
        this.emit({ type: 'cancel', peer: other.id, chunk })
      }
    }
  }

  private timeOut(peer: Peer, chunk: number, requestId: number): void {
    const request = peer.inflight.get(chunk)
    assert(request?.id === requestId, 'a live timer belongs to an outstanding request')
    // A peer that delivered to us since this request was sent is working through our queue,
    // not stalled: an uploader serves its requesters in turn (upload.ts), so with many of them
    // each waits many chunk times, and the wait grows faster than the rate estimate follows.
    // Its request keeps its place in that queue; the deadline moves to a timeout after the
    // last delivery. (At 1k heterogeneous, timing these out gave 4,288 timeouts, cancels that
    // threw away each request's place in the queue, and 202 bans of honest peers.)
    if (peer.lastDeliveryAt > request.sentAt) {
      const deadline = peer.lastDeliveryAt + this.timeoutFor(peer)
      if (deadline > this.now) {
        peer.inflight.set(chunk, { ...request, deadline })
        this.pushTimer(deadline, peer, chunk, request.id)
        return
      }
    }
    this.release(peer, chunk, true)
    this.emit({ type: 'cancel', peer: peer.id, chunk })
    this.rememberLate(peer, chunk, request.sentAt)
    // Requests queued before the last penalty time out together; they count as one strike.
    if (request.sentAt < peer.penalizedAt) return
    // A stall is a peer that delivered nothing for a long time while asked: as long as a weak
    // link takes for one chunk (REQUEST_TIMEOUT_INITIAL_MS). A shorter wait is a deep queue
    // at an honest uploader, whose share per requester changes faster than its rate estimate;
    // it costs the request, and the time it took is a sample of the peer's rate, so the next
    // timeouts and window follow. (1k heterogeneous: 202 honest peers banned as stalled, with
    // 85 % of timeouts at 8 to 16 intervals of the estimate.)
    const silentMs = this.now - Math.max(request.sentAt, peer.lastDeliveryAt)
    if (silentMs < this.options.requestTimeoutInitialMs) {
      const sample = 1 / silentMs
      if (sample < peer.rate) {
        peer.rate += RATE_SAMPLE_WEIGHT * (sample - peer.rate)
        this.sizeWindow(peer)
      }
      return
    }
    peer.stallStrikes++
    peer.penalizedAt = this.now
    peer.window = this.options.windowMin
    if (peer.stallStrikes >= this.options.stallStrikesMax) this.ban(peer, 'stalled')
  }

  /** Keeps when a request that ended unanswered was sent (at most a window's worth per peer). */
  private rememberLate(peer: Peer, chunk: number, sentAt: number): void {
    peer.timedOut ??= new Map()
    peer.timedOut.set(chunk, sentAt)
    if (peer.timedOut.size > this.options.windowMax) {
      const oldest = peer.timedOut.keys().next().value
      if (oldest !== undefined) peer.timedOut.delete(oldest)
    }
  }

  private strikeBadChunk(peer: Peer): void {
    peer.badStrikes++
    peer.window = this.options.windowMin
    if (peer.badStrikes >= this.options.badChunkStrikesMax) this.ban(peer, 'bad-chunks')
  }

  private ban(peer: Peer, reason: BanReason): void {
    this.emit({ type: 'ban', peer: peer.id, reason })
    this.remove(peer)
    this.banned.add(peer.id)
    if (this.banned.size > this.options.bannedPeersMax) {
      const oldest = this.banned.values().next().value
      if (oldest !== undefined) this.banned.delete(oldest)
    }
  }

  private resolve(from: PeerId | PeerRef): Peer | undefined {
    if (typeof from === 'string') return this.peers.get(from)
    const peer = from as unknown as Peer
    return peer.owner === this && peer.present ? peer : this.peers.get(peer.id)
  }

  /** Takes a peer out: requests released (no cancels: the peer is gone), availability withdrawn. */
  private remove(peer: Peer): void {
    peer.present = false
    this.peers.delete(peer.id)
    this.wantsWork.delete(peer)
    for (const chunk of [...peer.inflight.keys()]) {
      const count = this.dropRequest(peer, chunk)
      if (count === 0 && !getBit(this.held, chunk)) this.addWaiting(chunk)
    }
    for (let byte = 0; byte < peer.have.length; byte++) {
      const bits = peer.have[byte]!
      if (bits === 0) continue
      for (let b = 0; b < 8; b++) if ((bits >>> (7 - b)) & 1) this.picker.decrement(byte * 8 + b)
    }
    // Availability dropped and chunks came back: whoever was starved may have work now.
    this.unstarveAll()
  }
}
