import { assert } from '../codec/assert.js'
import {
  FOLLOWER_PENDING_BLOCKS_MAX,
  FOLLOWER_PENDING_BYTES_MAX,
  FOLLOWER_STALE_INTERVALS,
  SYNC_BLOCKS_MAX,
  SYNC_REQUEST_TIMEOUT_MS,
} from '../constants.js'
import type { Block } from '../ledger/block.js'
import type { Certificate } from '../ledger/certificate.js'
import type { LedgerState } from '../ledger/state.js'
import {
  type BlockFault,
  checkBlockAlone,
  checkBlockCertificate,
  verifyBlock,
} from '../ledger/verify-block.js'
import type { CertifiedBlock } from './messages.js'

/**
 * What every non-validator runs (devices, gateways): no consensus, only verification. Each
 * committed block a peer offers, by gossip or sync, is checked against the follower's own
 * head (link, structure, every transaction under the rules) and its certificate against
 * the genesis validator set, then applied. A block that skips ahead is held while the gap is
 * fetched, but only once its certificate verifies (so a peer cannot fill the buffer with
 * forgeries), within a height window (`pendingBlocksMax` past the head) and a byte budget
 * (`pendingBytesMax`). The sender is never trusted: a forged block is a `fault` output.
 * Sans-IO like the replica: feed inputs, drain `poll()`, arm a timer for `nextDeadline()`.
 */

export type FollowerOutput<P> =
  | { readonly type: 'commit'; readonly block: Block; readonly cert: Certificate }
  | { readonly type: 'request-sync'; readonly from: P; readonly height: number; readonly count: number }
  | { readonly type: 'fault'; readonly from: P; readonly fault: BlockFault }

export interface FollowerLimits {
  /** The height window past the head in which blocks are held. */
  readonly pendingBlocksMax: number
  /** Encoded bytes of held blocks, at most (the farthest from the head go first). */
  readonly pendingBytesMax: number
  readonly syncBlocksMax: number
  readonly syncRequestTimeoutMs: number
  readonly staleIntervals: number
}

export const DEFAULT_FOLLOWER_LIMITS: FollowerLimits = {
  pendingBlocksMax: FOLLOWER_PENDING_BLOCKS_MAX,
  pendingBytesMax: FOLLOWER_PENDING_BYTES_MAX,
  syncBlocksMax: SYNC_BLOCKS_MAX,
  syncRequestTimeoutMs: SYNC_REQUEST_TIMEOUT_MS,
  staleIntervals: FOLLOWER_STALE_INTERVALS,
}

export type FollowerVerdict =
  | { readonly kind: 'applied'; readonly height: number }
  | { readonly kind: 'known' }
  | { readonly kind: 'held' }
  | { readonly kind: 'rejected'; readonly fault: BlockFault }

export class Follower<P> {
  readonly limits: FollowerLimits
  private state: LedgerState
  private now: number
  private readonly pending = new Map<number, { block: Block; cert: Certificate; from: P }>()
  private pendingBytesHeld = 0
  private readonly ahead = new Map<P, number>()
  private syncing: { from: P; at: number } | null = null
  private outbox: FollowerOutput<P>[] = []

  constructor(options: { state: LedgerState; now: number; limits?: Partial<FollowerLimits> }) {
    this.state = options.state
    this.now = options.now
    this.limits = { ...DEFAULT_FOLLOWER_LIMITS, ...options.limits }
  }

  get head(): number {
    return this.state.head.height
  }

  get ledger(): LedgerState {
    return this.state
  }

  /** Encoded bytes of the blocks held ahead of the head (at most `limits.pendingBytesMax`). */
  get pendingBytes(): number {
    return this.pendingBytesHeld
  }

  /** Heights of the blocks held ahead of the head, in no particular order. */
  pendingHeights(): number[] {
    return [...this.pending.keys()]
  }

  poll(): FollowerOutput<P>[] {
    const out = this.outbox
    this.outbox = []
    return out
  }

  nextDeadline(): number | undefined {
    return this.syncing ? this.syncing.at + this.limits.syncRequestTimeoutMs : undefined
  }

  /**
   * True while the chain looks alive: the head block is younger than a few empty-block
   * intervals. Validators commit an empty block at that interval, so a withheld chain (a
   * freeze attack, or a partition from every honest peer) shows as not live.
   */
  isLive(now: number): boolean {
    const interval = this.state.genesis.params.emptyBlockIntervalMs
    return now - this.state.head.time <= interval * this.limits.staleIntervals
  }

  /** A committed block from `from` (gossip), with its certificate. */
  handleBlock(from: P, block: Block, cert: Certificate, now: number): FollowerVerdict {
    this.now = Math.max(this.now, now)
    const verdict = this.offer(from, block, cert)
    this.checkInvariants()
    return verdict
  }

  /** Blocks a sync peer returned; stops at the first fault. */
  handleSyncResponse(from: P, blocks: readonly CertifiedBlock[], now: number): void {
    this.now = Math.max(this.now, now)
    let progressed = false
    for (const b of blocks) {
      const v = this.offer(from, b.block, b.cert)
      if (v.kind === 'rejected') break
      if (v.kind === 'applied') progressed = true
    }
    if (this.syncing && this.syncing.from === from) {
      this.syncing = null
      if (!progressed) this.ahead.delete(from)
      this.maybeSync()
    }
    this.checkInvariants()
  }

  /** A peer says its head is at `height` (a hint; only a reason to ask it for blocks). */
  handleStatus(from: P, height: number, now: number): void {
    this.now = Math.max(this.now, now)
    if (height > this.head) {
      this.ahead.set(from, height)
      this.maybeSync()
    }
  }

  handleTick(now: number): void {
    this.now = Math.max(this.now, now)
    if (this.syncing && now >= this.syncing.at + this.limits.syncRequestTimeoutMs) {
      this.ahead.delete(this.syncing.from)
      this.syncing = null
      this.maybeSync()
    }
  }

  private offer(from: P, block: Block, cert: Certificate): FollowerVerdict {
    const h = block.header.height
    if (h <= this.head) return { kind: 'known' }
    if (h > this.head + 1) {
      if (h <= this.head + this.limits.pendingBlocksMax && !this.pending.has(h)) {
        // Checked before it is kept: what needs no parent, then the certificate (whose verdict
        // is remembered, so applying the block later does not verify it again).
        const fault =
          checkBlockAlone(this.state.genesis, block) ?? checkBlockCertificate(this.state.genesis, block, cert)
        if (fault) {
          this.outbox.push({ type: 'fault', from, fault })
          this.ahead.delete(from)
          return { kind: 'rejected', fault }
        }
        this.hold(h, { block, cert, from })
      }
      this.ahead.set(from, Math.max(this.ahead.get(from) ?? 0, h))
      this.maybeSync()
      return { kind: 'held' }
    }
    const result = this.apply(from, block, cert)
    if (!result.ok) return { kind: 'rejected', fault: result.fault }
    // Held blocks that now follow the head are checked exactly like fresh ones.
    for (let next = this.pending.get(this.head + 1); next; next = this.pending.get(this.head + 1)) {
      this.release(this.head + 1)
      if (!this.apply(next.from, next.block, next.cert).ok) break
    }
    for (const key of [...this.pending.keys()]) if (key <= this.head) this.release(key)
    return { kind: 'applied', height: h }
  }

  /**
   * Keeps a verified block ahead of the head within the byte budget: blocks farther from the
   * head than this one make room first; if that is not enough, this one is not kept (sync
   * fetches it with the gap).
   */
  private hold(height: number, entry: { block: Block; cert: Certificate; from: P }): void {
    const size = entry.block.bytes.byteLength
    if (size > this.limits.pendingBytesMax) return
    while (this.pendingBytesHeld + size > this.limits.pendingBytesMax) {
      let farthest = height
      for (const key of this.pending.keys()) if (key > farthest) farthest = key
      if (farthest === height) return
      this.release(farthest)
    }
    this.pending.set(height, entry)
    this.pendingBytesHeld += size
  }

  private release(height: number): void {
    const entry = this.pending.get(height)
    if (!entry) return
    this.pending.delete(height)
    this.pendingBytesHeld -= entry.block.bytes.byteLength
  }

  private apply(from: P, block: Block, cert: Certificate): { ok: true } | { ok: false; fault: BlockFault } {
    const result = verifyBlock(this.state, block, cert)
    if (!result.ok) {
      this.outbox.push({ type: 'fault', from, fault: result.error })
      this.ahead.delete(from)
      return { ok: false, fault: result.error }
    }
    result.value.mergeIntoParent()
    assert(this.state.head.hash === block.hashString, 'the follower is at the block it applied')
    this.outbox.push({ type: 'commit', block, cert })
    return { ok: true }
  }

  private maybeSync(): void {
    if (this.syncing) return
    let best: P | undefined
    let bestHeight = this.head
    for (const [peer, height] of this.ahead) {
      if (height > bestHeight) {
        best = peer
        bestHeight = height
      }
    }
    for (const [peer, height] of this.ahead) if (height <= this.head) this.ahead.delete(peer)
    if (best === undefined) return
    this.syncing = { from: best, at: this.now }
    this.outbox.push({
      type: 'request-sync',
      from: best,
      height: this.head + 1,
      count: this.limits.syncBlocksMax,
    })
  }

  private checkInvariants(): void {
    assert(this.pending.size <= this.limits.pendingBlocksMax, 'held blocks are bounded')
    assert(this.pendingBytesHeld <= this.limits.pendingBytesMax, 'held bytes are within the budget')
    for (const h of this.pending.keys()) assert(h > this.head + 1, 'held blocks are beyond the next height')
  }
}
