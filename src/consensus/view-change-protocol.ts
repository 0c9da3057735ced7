import { assert } from '../codec/assert.js'
import { toHex } from '../codec/bytes.js'
import type { Block } from '../ledger/block.js'
import type { NewView, ViewChange } from './messages.js'
import type { ReplicaContext, ViewChangeHooks } from './replica-context.js'
import {
  decideNewView,
  type NewViewDecision,
  primaryOf,
  type VerifiedCache,
  verifyNewView,
  verifyViewChange,
} from './view-change.js'

/**
 * The view change of a replica: moving to a later view when the primary fails, joining f+1
 * validators that moved, the new primary's NEW-VIEW from 2f+1 view changes, and entering the
 * view it decides. The checks and the decision itself are pure functions in view-change.ts;
 * this part keeps the votes and carried blocks and signs through the safety rules.
 */
export class ViewChangeProtocol implements ViewChangeHooks {
  /** View-change votes by view, then by validator (the latest from each). */
  private readonly viewChanges = new Map<number, Map<number, ViewChange>>()
  /** Blocks attached to view changes, by CID string: what a new primary re-proposes. */
  private readonly carriedBlocks = new Map<string, Block>()
  private readonly verified: VerifiedCache = new Set()
  private myViewChange: ViewChange | null = null
  private myNewView: NewView | null = null
  /** When 2f+1 view changes for the view we move to were in; its NEW-VIEW is due a timeout later. */
  quorumAt: number | null = null

  constructor(private readonly c: ReplicaContext) {
    const prepared = c.rules.prepared
    if (prepared) this.carriedBlocks.set(prepared.block.hashString, prepared.block)
  }

  /** After a restart: a validator that was moving to a view says so again. */
  resume(): void {
    if (this.c.changing) this.sendViewChange()
  }

  carriedBlock(hash: string): Block | undefined {
    return this.carriedBlocks.get(hash)
  }

  get carriedCount(): number {
    return this.carriedBlocks.size
  }

  get viewCount(): number {
    return this.viewChanges.size
  }

  onCommitted(height: number): void {
    for (const [key, b] of this.carriedBlocks) if (b.header.height <= height) this.carriedBlocks.delete(key)
    // Our view change now understates our head; send a fresh one.
    if (this.c.changing) this.sendViewChange()
  }

  startViewChange(target: number, reason: string): void {
    const c = this.c
    const moved = c.rules.moveToView(target)
    assert(moved.ok, 'views only move forward')
    this.quorumAt = null
    c.viewChangesInARow += 1
    c.workSince = null
    c.persist()
    c.push({ type: 'view', view: target, changing: true, reason })
    this.pruneViews()
    this.sendViewChange()
    this.checkViewChangeQuorum()
  }

  /** Signs and broadcasts our view change for the view we are moving to. */
  private sendViewChange(): void {
    const c = this.c
    const head = c.headCert ? { height: c.headCert.height, block: c.headCert.block, cert: c.headCert } : null
    const signed = c.rules.signViewChange(head)
    assert(signed.ok, 'a view change is sent only while moving to a view')
    const vc = signed.value
    this.myViewChange = vc
    this.verified.add(`vc/${c.index}/${toHex(vc.sig)}`)
    this.storeViewChange(vc)
    c.push({ type: 'broadcast', msg: vc })
    c.lastRetransmitAt = c.now
  }

  private storeViewChange(vc: ViewChange): void {
    let byValidator = this.viewChanges.get(vc.view)
    if (!byValidator) {
      byValidator = new Map()
      this.viewChanges.set(vc.view, byValidator)
    }
    byValidator.set(vc.validator, vc)
    if (vc.preparedBlock && !this.carriedBlocks.has(vc.preparedBlock.hashString)) {
      if (this.carriedBlocks.size >= this.c.n) {
        const oldest = this.carriedBlocks.keys().next()
        if (!oldest.done) this.carriedBlocks.delete(oldest.value)
      }
      this.carriedBlocks.set(vc.preparedBlock.hashString, vc.preparedBlock)
    }
  }

  onViewChange(from: number, vc: ViewChange): void {
    const c = this.c
    if (vc.view < c.view || (vc.view === c.view && !c.changing)) {
      // The sender missed our move to this view; the primary repeats its NEW-VIEW.
      if (this.myNewView && this.myNewView.view === c.view && !c.changing) {
        c.push({ type: 'send', to: from, msg: this.myNewView })
      }
      return
    }
    if (vc.view > c.view + c.limits.viewsAheadMax) return
    const existing = this.viewChanges.get(vc.view)?.get(vc.validator)
    // A validator's later vote for the same view is kept only if it reports a higher head
    // (checked before the costly verification, so a flood of variants costs nothing).
    if (existing && (existing.head?.height ?? 0) >= (vc.head?.height ?? 0)) return
    const fault = verifyViewChange(c.genesis, vc, this.verified)
    if (fault) {
      c.fault(from, fault.code, fault.message)
      return
    }
    this.storeViewChange(vc)
    if (vc.head && vc.head.height > c.head) c.catchUp.noteAhead(vc.validator, vc.head.height)
    this.maybeJoinViewChange()
    this.checkViewChangeQuorum()
  }

  /** f+1 validators want a later view: at least one honest one timed out, so join them. */
  private maybeJoinViewChange(): void {
    const c = this.c
    const wanted: number[] = []
    for (let v = 0; v < c.n; v++) {
      if (v === c.index) continue
      let best = -1
      for (const [view, byValidator] of this.viewChanges) {
        if (view > c.view && view > best && byValidator.has(v)) best = view
      }
      if (best > 0) wanted.push(best)
    }
    if (wanted.length < c.f + 1) return
    wanted.sort((a, b) => b - a)
    const target = wanted[c.f]!
    if (target > c.view) this.startViewChange(target, `${c.f + 1} validators moved to view ${target}`)
  }

  private checkViewChangeQuorum(): void {
    const c = this.c
    if (!c.changing) return
    const votes = this.viewChanges.get(c.view)
    if (!votes || votes.size < c.quorum) return
    if (this.quorumAt === null) this.quorumAt = c.now
    if (c.isPrimary() && c.rules.record.newViewSent < c.view) this.sendNewView(votes)
  }

  private sendNewView(votes: Map<number, ViewChange>): void {
    const c = this.c
    // Our own vote first (it is the freshest view of our head), then by validator index.
    const chosen: ViewChange[] = []
    const mine = votes.get(c.index)
    if (mine) chosen.push(mine)
    for (const v of [...votes.keys()].sort((a, b) => a - b)) {
      if (chosen.length >= c.quorum) break
      if (v !== c.index) chosen.push(votes.get(v)!)
    }
    const stripped = chosen.map(stripBlock)
    const signed = c.rules.signNewView(stripped)
    assert(signed.ok, 'the primary sends one NEW-VIEW per view, from a quorum of view changes')
    const nv = signed.value
    this.myNewView = nv
    c.persist()
    c.push({ type: 'broadcast', msg: nv })
    this.enterView(decideNewView(c.view, stripped), 'sent NEW-VIEW')
  }

  onNewView(from: number, nv: NewView): void {
    const c = this.c
    if (nv.view < c.view || (nv.view === c.view && !c.changing)) return
    if (nv.view > c.view + c.limits.viewsAheadMax) return
    const checked = verifyNewView(c.genesis, nv, this.verified)
    if (!checked.ok) {
      c.fault(from, checked.fault.code, checked.fault.message)
      return
    }
    for (const vc of nv.viewChanges) {
      if (vc.head && vc.head.height > c.head) c.catchUp.noteAhead(vc.validator, vc.head.height)
    }
    if (c.view !== nv.view) c.viewChangesInARow += 1
    this.enterView(checked.decision, `NEW-VIEW from validator ${nv.validator}`)
  }

  /** Enters the view of a checked NEW-VIEW decision. */
  private enterView(decision: NewViewDecision, reason: string): void {
    const c = this.c
    const entered = c.rules.enterView(decision)
    assert(entered.ok, 'a NEW-VIEW is entered only for a later view, or the one we move to')
    this.quorumAt = null
    this.myViewChange = null
    c.lastProgressAt = c.now
    c.workSince = null
    c.persist()
    c.push({ type: 'view', view: c.view, changing: false, reason })
    this.pruneViews()
    if (decision.height - 1 > c.head) c.catchUp.noteAhead(decision.headFrom, decision.height - 1, true)
    if (decision.height <= c.head) {
      // We are ahead of the new view's start: tell its primary, so it syncs.
      const primary = primaryOf(c.view, c.n)
      if (primary !== c.index) c.sendStatus(primary)
    }
    const s = c.normal.currentSlot()
    if (s) c.normal.progressSlot(s)
  }

  /** Drops messages of views that can no longer matter. */
  private pruneViews(): void {
    const c = this.c
    c.normal.pruneViews()
    for (const view of this.viewChanges.keys()) {
      if (view < c.view || view > c.view + c.limits.viewsAheadMax) this.viewChanges.delete(view)
    }
    if (this.myNewView && this.myNewView.view < c.view) this.myNewView = null
    // The cache only saves work; start it afresh rather than let it grow.
    if (this.verified.size > 64 * c.n) this.verified.clear()
  }

  // ---- Retransmission ----

  hasSomethingToRetransmit(): boolean {
    return this.myViewChange !== null
  }

  /** While changing: our view change. In a view we lead: its NEW-VIEW, for who missed it. */
  retransmit(): void {
    const c = this.c
    if (c.changing) {
      if (this.myViewChange) c.push({ type: 'broadcast', msg: this.myViewChange })
      return
    }
    if (this.myNewView && this.myNewView.view === c.view) c.push({ type: 'broadcast', msg: this.myNewView })
  }
}

function stripBlock(vc: ViewChange): ViewChange {
  if (!vc.preparedBlock) return vc
  const { preparedBlock: _, ...rest } = vc
  return rest
}
