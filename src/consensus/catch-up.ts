import { checkBlockCertificate } from '../ledger/verify-block.js'
import type { CertifiedBlock } from './messages.js'
import type { CatchUpHooks, ReplicaContext } from './replica-context.js'

/**
 * Catch-up of a replica that fell behind: it learns from statuses, votes and view changes
 * which peers have committed further, asks one of them for blocks (the driver answers
 * `sync-request`s from its store), and checks every block it receives in full against its
 * certificate and the rules; a peer that sends nothing useful is dropped for another.
 */
export class CatchUp implements CatchUpHooks {
  /** Heights peers showed they have committed beyond ours: where to sync from. */
  private readonly ahead = new Map<number, number>()
  private behindSince: number | null = null
  private syncing: { from: number; height: number; at: number } | null = null
  private lastSyncFailed: number | null = null
  /** Our head when we last told each peer it is behind, so each hears it once per height. */
  private readonly toldBehind = new Map<number, number>()

  constructor(private readonly c: ReplicaContext) {}

  /** The sync timers by name, for the replica's `deadlines`. */
  deadlines(out: Record<string, number | undefined>): void {
    if (this.syncing) out.syncTimeout = this.syncing.at + this.c.limits.syncRequestTimeoutMs
    else if (this.behindSince !== null) out.sync = this.behindSince + this.c.limits.syncDelayMs
  }

  handleTick(now: number): void {
    const { limits } = this.c
    if (this.syncing && now >= this.syncing.at + limits.syncRequestTimeoutMs) {
      // An unanswered request: the peer's claim was unproven, forget it and ask another.
      this.dropSyncPeer(this.syncing.from)
    } else if (!this.syncing && this.behindSince !== null && now >= this.behindSince + limits.syncDelayMs) {
      this.requestSync()
    }
  }

  screenHeight(from: number, height: number): boolean {
    const c = this.c
    // A peer behind us hears our height once; a peer ahead of us is remembered as a sync source.
    if (height <= c.head) {
      if (this.toldBehind.get(from) !== c.head) {
        this.toldBehind.set(from, c.head)
        c.sendStatus(from)
      }
      return false
    }
    if (height > c.head + 1) this.noteAhead(from, height - 1)
    return true
  }

  noteAhead(peer: number, height: number, now = false): void {
    const c = this.c
    if (peer === c.index || height <= c.head) return
    this.ahead.set(peer, Math.max(this.ahead.get(peer) ?? 0, height))
    if (this.behindSince === null) this.behindSince = c.now
    if (now || height > c.head + 1 + c.limits.heightsAheadMax) {
      if (!this.syncing) this.requestSync()
    }
  }

  onCommitted(height: number): void {
    for (const [peer, h] of this.ahead) if (h <= height) this.ahead.delete(peer)
    if (this.ahead.size === 0) this.behindSince = null
  }

  onStatus(from: number, height: number): void {
    const c = this.c
    if (height > c.head) this.noteAhead(from, height, true)
    else if (height < c.head && this.toldBehind.get(from) !== c.head) {
      this.toldBehind.set(from, c.head)
      c.sendStatus(from)
    }
  }

  private requestSync(): void {
    const c = this.c
    let best: number | undefined
    let bestHeight = c.head
    for (const [peer, height] of this.ahead) {
      if (height <= c.head) continue
      const better =
        best === undefined ||
        (peer !== this.lastSyncFailed && best === this.lastSyncFailed) ||
        ((peer !== this.lastSyncFailed) === (best !== this.lastSyncFailed) &&
          (height > bestHeight || (height === bestHeight && peer < best)))
      if (better) {
        best = peer
        bestHeight = height
      }
    }
    if (best === undefined) {
      this.behindSince = null
      return
    }
    this.syncing = { from: best, height: c.head + 1, at: c.now }
    c.push({ type: 'request-sync', from: best, height: c.head + 1, count: c.limits.syncBlocksMax })
  }

  /** Committed blocks from a peer, each checked in full: the sender is never trusted. */
  onCertifiedBlocks(from: number, blocks: readonly CertifiedBlock[]): void {
    const c = this.c
    let applied = 0
    for (const { block, cert } of blocks) {
      const h = block.header.height
      if (h <= c.head) continue
      if (h > c.head + 1) {
        this.noteAhead(from, h)
        break
      }
      const certFault = checkBlockCertificate(c.genesis, block, cert)
      if (certFault) {
        c.fault(from, certFault.code, certFault.message)
        this.dropSyncPeer(from)
        return
      }
      const fault = c.proposals.validate(block)
      if (fault) {
        c.fault(from, fault.code, fault.message)
        this.dropSyncPeer(from)
        return
      }
      c.normal.applyCommitted(c.proposals.validated(block.hashString)!, cert)
      applied++
    }
    if (this.syncing && this.syncing.from === from) {
      if (applied === 0) {
        this.dropSyncPeer(from)
        return
      }
      this.syncing = null
      if (this.ahead.size > 0) this.requestSync()
    }
  }

  private dropSyncPeer(from: number): void {
    this.ahead.delete(from)
    this.lastSyncFailed = from
    if (this.syncing?.from === from) this.syncing = null
    if (this.ahead.size === 0) this.behindSince = null
    else if (!this.syncing) this.requestSync()
  }
}
