/**
 * The origin's seeding policy (super-seeding, as BitTorrent's seeds use it): the node that
 * published an image sends each chunk only until a copy of it is out in the swarm, and then
 * answers "busy" so that neighbours fetch that chunk from each other. Without it the origin,
 * usually the best-connected node and the one every device meets first, serves a large share of
 * every download: 2.4–4.5 image copies for 12 devices on loopback (bench/node.ts).
 *
 * A chunk counts as "out" while a connected neighbour holds it: one announced it (have,
 * have-update) or was sent it by the origin. When those neighbours leave, the origin serves the
 * chunk again. A device must never starve because the origin is being frugal, so two backstops
 * serve a refused neighbour anyway:
 * - a neighbour refused the same chunk SEED_REFUSALS_BEFORE_SERVE_MAX times (the holders may
 *   refuse it, be slow, or not be its neighbours), while the origin has sent that chunk fewer
 *   than SEED_BACKSTOP_COPIES_MAX times in all. Without that cap the backstop's copies grew
 *   with the fleet: in a large swarm the origin's neighbours wait longer for chunks from
 *   elsewhere, and the 10k-device simulated rollout sent 2.31 image copies (1.66 with it, and
 *   the ratios to the bound did not change);
 * - a starving neighbour: refused, and then SEED_STARVATION_MS without any new chunk, neither
 *   one the origin sent because nobody had it nor one announced from elsewhere. It has no other
 *   source (its only link is the origin, or its neighbours want other releases), and it is
 *   served every chunk it asks for until it announces a chunk it got from someone else.
 *   Per chunk alone is not enough: a starving device asks for a different chunk each time, and
 *   with thousands of chunks it took minutes to reach three refusals of any one of them.
 *   Time, not a refusal count, and any progress resets the clock, because early in a rollout
 *   the origin's neighbours hold nothing from elsewhere for seconds while the chunks the
 *   origin sends them spread: they are busy, not starving (a rule on chunks from elsewhere
 *   alone made the origin send 2.4 copies in the 1k-device simulated rollout instead of 1.25).
 *
 * A request is also news: the neighbour does not hold that chunk, whatever the origin thought
 * (a send that was cancelled or lost on the way). It no longer counts as a holder of it.
 *
 * Pure: the node reports what its neighbours announced and which neighbours left, and asks
 * `decide` for every request of a chunk it holds.
 */
import { assert } from '../codec/assert.js'
import {
  SEED_BACKSTOP_COPIES_MAX,
  SEED_COPIES_PER_CHUNK,
  SEED_REFUSALS_BEFORE_SERVE_MAX,
  SEED_REFUSALS_TRACKED_PER_PEER_MAX,
  SEED_STARVATION_MS,
  TRANSFER_PEERS_MAX,
} from '../constants.js'
import { bitfieldBytes, clearBit, getBit, setBit } from './bitfield.js'
import type { PeerId } from './scheduler.js'

export interface SeedPolicyOptions {
  /** Copies of a chunk the origin sends before it relies on holders among its neighbours. */
  readonly copiesPerChunk: number
  /** Refusals of one chunk to one neighbour after which the origin serves it anyway. */
  readonly refusalsBeforeServe: number
  /** Copies of a chunk in all beyond which refusals no longer earn it (starvation still does). */
  readonly backstopCopiesMax: number
  /** Time a refused neighbour may go without a chunk from elsewhere before it is served. */
  readonly starvationMs: number
  /** Neighbours whose holdings are tracked; beyond it a neighbour is served unconditionally. */
  readonly peersMax: number
}

export const DEFAULT_SEED_POLICY_OPTIONS: SeedPolicyOptions = {
  copiesPerChunk: SEED_COPIES_PER_CHUNK,
  refusalsBeforeServe: SEED_REFUSALS_BEFORE_SERVE_MAX,
  backstopCopiesMax: SEED_BACKSTOP_COPIES_MAX,
  starvationMs: SEED_STARVATION_MS,
  peersMax: TRANSFER_PEERS_MAX,
}

export type SeedDecision = 'serve' | 'refuse'

interface Neighbour {
  /** Chunks this neighbour announced or was sent by the origin. */
  readonly holds: Uint8Array
  /** Chunks the origin decided to send this neighbour (a subset of `holds`). */
  readonly sentTo: Uint8Array
  /** Refusals per chunk, for the per-chunk backstop; bounded, oldest forgotten first. */
  readonly refusals: Map<number, number>
  /** When the current run of refusals began: the first refusal since its last new chunk. NaN: none. */
  refusedSinceMs: number
  /** Starving: served everything until it announces a chunk from elsewhere. */
  starving: boolean
}

export class SeedPolicy {
  private readonly options: SeedPolicyOptions
  private readonly neighbours = new Map<PeerId, Neighbour>()
  /** Connected neighbours holding each chunk. */
  private readonly holders: Uint32Array
  /** Copies of each chunk the origin has decided to send, ever. */
  private readonly sent: Uint32Array
  private served = 0
  private refused = 0

  constructor(
    readonly chunkCount: number,
    options: Partial<SeedPolicyOptions> = {},
  ) {
    assert(chunkCount >= 1, 'an image has at least one chunk')
    this.options = { ...DEFAULT_SEED_POLICY_OPTIONS, ...options }
    assert(this.options.copiesPerChunk >= 1, 'the origin sends every chunk at least once')
    this.holders = new Uint32Array(chunkCount)
    this.sent = new Uint32Array(chunkCount)
  }

  /** A neighbour announced every chunk it holds (a have bitfield, bitfield.ts layout). */
  handlePeerBitfield(peer: PeerId, bitfield: Uint8Array): void {
    const n = this.neighbour(peer)
    if (!n) return
    const limit = Math.min(this.chunkCount, bitfield.byteLength * 8)
    for (let chunk = 0; chunk < limit; chunk++) if (getBit(bitfield, chunk)) this.announced(n, chunk)
  }

  /** A neighbour announced chunks it came to hold. Out-of-range indices are ignored. */
  handlePeerHave(peer: PeerId, chunks: readonly number[]): void {
    const n = this.neighbour(peer)
    if (!n) return
    for (const chunk of chunks) if (this.inRange(chunk)) this.announced(n, chunk)
  }

  /** A neighbour's link broke: what it holds is no longer within the origin's reach. */
  handlePeerLeft(peer: PeerId): void {
    const n = this.neighbours.get(peer)
    if (!n) return
    for (let chunk = 0; chunk < this.chunkCount; chunk++) {
      if (getBit(n.holds, chunk)) {
        assert(this.holders[chunk]! > 0, 'a held chunk is counted')
        this.holders[chunk]!--
      }
    }
    this.neighbours.delete(peer)
  }

  /**
   * Whether to serve `peer`'s request for `chunk`, at `nowMs` (any monotonic clock). A `serve`
   * is counted as a copy sent (and the neighbour as its holder) at once, so a burst of requests
   * for one chunk gets one copy.
   */
  decide(peer: PeerId, chunk: number, nowMs: number): SeedDecision {
    assert(this.inRange(chunk), 'a request for a chunk of the image')
    const n = this.neighbour(peer)
    if (n) this.unmark(n, chunk)
    let serve =
      n === undefined || this.sent[chunk]! < this.options.copiesPerChunk || this.holders[chunk] === 0
    if (n) {
      if (serve) n.refusedSinceMs = Number.NaN
      else serve = this.starved(n, nowMs)
    }
    if (!serve && n) {
      const refusals = (n.refusals.get(chunk) ?? 0) + 1
      serve =
        refusals > this.options.refusalsBeforeServe && this.sent[chunk]! < this.options.backstopCopiesMax
      n.refusals.delete(chunk)
      if (!serve) {
        if (n.refusals.size >= SEED_REFUSALS_TRACKED_PER_PEER_MAX) {
          const oldest = n.refusals.keys().next()
          if (!oldest.done) n.refusals.delete(oldest.value)
        }
        n.refusals.set(chunk, refusals)
      }
    }
    if (!serve) {
      this.refused++
      return 'refuse'
    }
    this.sent[chunk]!++
    if (n) {
      n.refusals.delete(chunk)
      this.mark(n, chunk)
      setBit(n.sentTo, chunk)
    }
    this.served++
    return 'serve'
  }

  /** Copies of `chunk` decided so far. */
  copiesSent(chunk: number): number {
    return this.sent[chunk] ?? 0
  }

  /** Connected neighbours known to hold `chunk`. */
  holdersOf(chunk: number): number {
    return this.holders[chunk] ?? 0
  }

  get stats(): { served: number; refused: number; neighbours: number } {
    return { served: this.served, refused: this.refused, neighbours: this.neighbours.size }
  }

  private neighbour(peer: PeerId): Neighbour | undefined {
    const known = this.neighbours.get(peer)
    if (known) return known
    // Beyond the tracked neighbours a peer is served as if there were no policy: bounded
    // memory, and never a starved device.
    if (this.neighbours.size >= this.options.peersMax) return undefined
    const bytes = bitfieldBytes(this.chunkCount)
    const n: Neighbour = {
      holds: new Uint8Array(bytes),
      sentTo: new Uint8Array(bytes),
      refusals: new Map(),
      refusedSinceMs: Number.NaN,
      starving: false,
    }
    this.neighbours.set(peer, n)
    return n
  }

  /**
   * Whether `n`, about to be refused, is starving: refused starvationMs ago with no new chunk
   * since. A first refusal starts that clock.
   */
  private starved(n: Neighbour, nowMs: number): boolean {
    if (n.starving) return true
    if (Number.isNaN(n.refusedSinceMs)) {
      n.refusedSinceMs = nowMs
      return false
    }
    n.starving = nowMs - n.refusedSinceMs >= this.options.starvationMs
    return n.starving
  }

  /** `n` announced `chunk`: if the origin did not send it, it came from elsewhere. */
  private announced(n: Neighbour, chunk: number): void {
    if (!getBit(n.holds, chunk) && !getBit(n.sentTo, chunk)) {
      n.refusedSinceMs = Number.NaN
      n.starving = false
    }
    this.mark(n, chunk)
  }

  private mark(n: Neighbour, chunk: number): void {
    if (getBit(n.holds, chunk)) return
    setBit(n.holds, chunk)
    this.holders[chunk]!++
  }

  private unmark(n: Neighbour, chunk: number): void {
    if (!getBit(n.holds, chunk)) return
    clearBit(n.holds, chunk)
    clearBit(n.sentTo, chunk)
    assert(this.holders[chunk]! > 0, 'a held chunk is counted')
    this.holders[chunk]!--
  }

  private inRange(chunk: number): boolean {
    return Number.isSafeInteger(chunk) && chunk >= 0 && chunk < this.chunkCount
  }
}
