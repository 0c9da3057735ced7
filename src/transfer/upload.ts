/**
 * The serving side: a bounded number of upload slots (chunks being sent at once) and a fair
 * queue in front of them. Requests wait in one FIFO per downloader; a free slot goes to the
 * downloaders in turn (round robin), so a peer with a deep queue cannot starve one that asks for
 * a single chunk. Chunks are equal-sized, so taking turns by request is fair by bytes too.
 *
 * Pure: the node tells it what arrived and what finished sending, and polls for the next chunk
 * to send. Whether the chunk is held is the store's question, asked before `handleRequest`.
 */
import { assert } from '../codec/assert.js'
import { err, ok, type Result } from '../codec/result.js'
import { UPLOAD_QUEUE_PER_PEER_MAX, UPLOAD_QUEUE_TOTAL_MAX, UPLOAD_SLOTS_MAX } from '../constants.js'
import type { PeerId } from './scheduler.js'

export interface UploadOptions {
  readonly slots: number
  readonly queuePerPeerMax: number
  readonly queueTotalMax: number
}

export const DEFAULT_UPLOAD_OPTIONS: UploadOptions = {
  slots: UPLOAD_SLOTS_MAX,
  queuePerPeerMax: UPLOAD_QUEUE_PER_PEER_MAX,
  queueTotalMax: UPLOAD_QUEUE_TOTAL_MAX,
}

/**
 * Why a request was not queued. `busy` and `peer-queue-full` are answered with a not-found
 * `busy`; a peer that keeps overfilling its queue asks for more than any honest window.
 */
export type UploadRefusal =
  | { readonly code: 'busy'; readonly message: string }
  | { readonly code: 'peer-queue-full'; readonly message: string }
  | { readonly code: 'duplicate'; readonly message: string }

/** The one success value of `handleRequest` (read-only; saves an allocation per request). */
const OK: Result<void, never> = ok(undefined)

export interface UploadJob {
  readonly peer: PeerId
  readonly chunk: number
}

/** One downloader's requests. */
class PeerQueue {
  readonly waiting: number[] = []
  /** Chunks in a slot (at most `slots` of them: a short array beats a Set). */
  readonly sending: number[] = []
  /** Turns it was passed over for a downloader further behind, since it was last served. */
  skipped = 0
  inTurns = false

  constructor(
    readonly peer: PeerId,
    /** Chunks the downloader holds, as last told with a request; +Infinity when unknown. */
    public held: number,
  ) {}
}

export class UploadQueue {
  private readonly options: UploadOptions
  /**
   * Peers with requests waiting, in turn order (a peer is moved to the back after each turn),
   * and beside them what each holds. `poll` scans the holdings for every chunk it sends: in one
   * array they are one read, where following a list of queues was a cache miss per queue (in a
   * 10,000-device simulation, a tenth of the run). A few dozen entries at most (one per
   * neighbour), so removing from the middle is a short copy.
   */
  private readonly turns: PeerQueue[] = []
  private readonly turnHeld: number[] = []
  /** Every peer with requests waiting or being sent. */
  private readonly queues = new Map<PeerId, PeerQueue>()
  private waitingTotal = 0
  private sendingTotal = 0

  constructor(options: Partial<UploadOptions> = {}) {
    this.options = { ...DEFAULT_UPLOAD_OPTIONS, ...options }
    assert(this.options.slots >= 1, 'at least one upload slot')
  }

  /**
   * A peer asked for a chunk this node holds. `held` is how many chunks of the image the peer
   * holds, as far as this node knows (its have announcements); downloaders further behind are
   * served first (see `poll`). Unknown, the peer just takes its turns.
   */
  handleRequest(peer: PeerId, chunk: number, held = Number.POSITIVE_INFINITY): Result<void, UploadRefusal> {
    const q = this.queues.get(peer)
    if (q && (q.sending.includes(chunk) || q.waiting.includes(chunk))) {
      return err({ code: 'duplicate', message: `${peer} already asked for chunk ${chunk}` })
    }
    if (q && q.waiting.length + q.sending.length >= this.options.queuePerPeerMax) {
      return err({
        code: 'peer-queue-full',
        message: `${peer} has ${this.options.queuePerPeerMax} requests open`,
      })
    }
    if (this.waitingTotal >= this.options.queueTotalMax) {
      return err({ code: 'busy', message: `${this.waitingTotal} requests are waiting` })
    }
    let queue = q
    if (!queue) {
      queue = new PeerQueue(peer, held)
      this.queues.set(peer, queue)
    }
    queue.held = held
    queue.waiting.push(chunk)
    this.waitingTotal++
    if (!queue.inTurns) this.appendTurn(queue)
    else this.turnHeld[this.turns.indexOf(queue)] = held
    return OK
  }

  /**
   * A peer withdrew a request. Returns `waiting` if it was dropped from the queue, `sending` if
   * it is already being sent (the node may abort; it calls `handleSent` either way), or
   * `unknown`.
   */
  handleCancel(peer: PeerId, chunk: number): 'waiting' | 'sending' | 'unknown' {
    const q = this.queues.get(peer)
    if (!q) return 'unknown'
    if (q.sending.includes(chunk)) return 'sending'
    const i = q.waiting.indexOf(chunk)
    if (i < 0) return 'unknown'
    q.waiting.splice(i, 1)
    this.waitingTotal--
    this.tidy(q)
    return 'waiting'
  }

  /** A chunk finished sending (or failed to): its slot is free. */
  handleSent(peer: PeerId, chunk: number): void {
    const q = this.queues.get(peer)
    const i = q ? q.sending.indexOf(chunk) : -1
    assert(q !== undefined && i >= 0, 'a finished upload was in a slot')
    q.sending.splice(i, 1)
    this.sendingTotal--
    this.tidy(q)
  }

  /** A peer went away: its waiting requests are dropped; its slots free as their sends end. */
  handlePeerLeft(peer: PeerId): void {
    const q = this.queues.get(peer)
    if (!q) return
    this.waitingTotal -= q.waiting.length
    q.waiting.length = 0
    this.tidy(q)
  }

  /**
   * The next chunk to send, taking a slot, or undefined when every slot is taken or nothing
   * waits. The downloader holding the fewest chunks goes first: the slowest device's finish is
   * what a rollout waits for, and equal turns gave a cellular device (20 Mbit/s down) among
   * DSL neighbours a sixteenth of each uplink, 8 Mbit/s, while LAN devices that needed less
   * took the same share (1k heterogeneous: cellular p50 30 s, max 43 s, bound 26.8 s). The
   * one at the front of the turn order is passed over at most once per downloader waiting,
   * so everyone still gets at least half a turn per round, whatever others claim to hold.
   */
  poll(): UploadJob | undefined {
    if (this.sendingTotal >= this.options.slots) return undefined
    const { turns, turnHeld } = this
    const n = turns.length
    if (n === 0) return undefined
    let at = 0
    let q = turns[0]!
    if (q.skipped < n) {
      let bestHeld = turnHeld[0]!
      for (let i = 1; i < n; i++) {
        if (turnHeld[i]! < bestHeld) {
          at = i
          bestHeld = turnHeld[i]!
        }
      }
      if (at !== 0) {
        q.skipped++
        q = turns[at]!
      }
    }
    q.skipped = 0
    const chunk = q.waiting.shift()
    assert(chunk !== undefined, 'a peer in the turn order has a request waiting')
    this.waitingTotal--
    this.sendingTotal++
    q.sending.push(chunk)
    this.removeTurn(at)
    if (q.waiting.length > 0) this.appendTurn(q)
    return { peer: q.peer, chunk }
  }

  get sending(): number {
    return this.sendingTotal
  }

  get waiting(): number {
    return this.waitingTotal
  }

  private tidy(q: PeerQueue): void {
    if (q.waiting.length === 0 && q.inTurns) this.removeTurn(this.turns.indexOf(q))
    if (q.waiting.length === 0 && q.sending.length === 0) this.queues.delete(q.peer)
  }

  private appendTurn(q: PeerQueue): void {
    q.inTurns = true
    this.turns.push(q)
    this.turnHeld.push(q.held)
  }

  /** Takes the queue at position `at` out of the turn order, keeping the others' order. */
  private removeTurn(at: number): void {
    const { turns, turnHeld } = this
    const last = turns.length - 1
    assert(at >= 0 && at <= last, 'a queue in the turn order is in the array')
    turns[at]!.inTurns = false
    for (let i = at; i < last; i++) {
      turns[i] = turns[i + 1]!
      turnHeld[i] = turnHeld[i + 1]!
    }
    turns.pop()
    turnHeld.pop()
  }
}
