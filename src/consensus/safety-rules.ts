import { assert } from '../codec/assert.js'
import type { CID } from '../codec/cid.js'
import { err, ok, type Result } from '../codec/result.js'
import { SigningDomain } from '../crypto/domains.js'
import { sign } from '../crypto/ed25519.js'
import type { Block } from '../ledger/block.js'
import { signCommit } from '../ledger/certificate.js'
import { type Genesis, quorumSize } from '../ledger/genesis.js'
import {
  type HeadProof,
  type NewView,
  newViewStatement,
  type PreparedProof,
  prepareStatement,
  type ViewChange,
  viewChangeStatement,
} from './messages.js'
import { EMPTY_SAFETY_RECORD, type SafetyRecord, type SignedVotes } from './safety.js'
import { type NewViewDecision, primaryOf } from './view-change.js'

/**
 * The validator's signer (after Aptos' SafetyRules and CometBFT's privval): the only holder
 * of the validator key and of its safety record, and the only code that signs consensus
 * messages. Each `sign*` method checks the rule that keeps this validator from contradicting
 * what it signed before, updates the record, and only then returns the signature; a
 * signature the rules forbid is refused with a typed `SafetyRefusal`. The replica decides
 * what to say; this module decides whether saying it is safe.
 *
 * The rules, each with its refusal code:
 * - `wrong-view`: prepare, pre-prepare and commit votes are signed only in the current view,
 *   and not while moving to a later one (a view left behind gets no more votes).
 * - `vote-regress`: votes only move forward, to a later height or a later view at the same
 *   height; nothing is signed below a (height, view) already voted in.
 * - `conflicting-vote`: never two different blocks for one (height, view) and phase.
 * - `not-primary`: only the primary of a view proposes in it or sends its NEW-VIEW.
 * - `new-view-violated`: inside a view entered by a NEW-VIEW that names the block to
 *   re-propose at its first height, no other block is proposed or prepared there.
 * - `not-prepared`: a commit vote needs 2f+1 prepare votes for that very block, which become
 *   the prepared proof carried into view changes.
 * - `view-regress`: views only move forward; a view is entered from a NEW-VIEW only if it is
 *   later than the current one or the one being moved to.
 * - `not-changing`: a view-change vote is signed only for the view being moved to, once that
 *   move is in the record; a NEW-VIEW likewise, before the view is entered.
 * - `new-view-repeated`: at most one NEW-VIEW per view, even across restarts.
 * - `no-quorum`: a NEW-VIEW carries view changes from 2f+1 validators for its view.
 *
 * The record is emitted by the replica in a `persist` output before any message carrying a
 * signature from here is transmitted, so a restart from the last stored record keeps every
 * rule above.
 */

export type SafetyRefusal =
  | { readonly code: 'wrong-view'; readonly message: string }
  | { readonly code: 'vote-regress'; readonly message: string }
  | { readonly code: 'conflicting-vote'; readonly message: string }
  | { readonly code: 'not-primary'; readonly message: string }
  | { readonly code: 'new-view-violated'; readonly message: string }
  | { readonly code: 'not-prepared'; readonly message: string }
  | { readonly code: 'view-regress'; readonly message: string }
  | { readonly code: 'not-changing'; readonly message: string }
  | { readonly code: 'new-view-repeated'; readonly message: string }
  | { readonly code: 'no-quorum'; readonly message: string }

export type SafetyResult<T> = Result<T, SafetyRefusal>

export interface SafetyRulesOptions {
  readonly genesis: Genesis
  /** This validator's index in genesis. */
  readonly index: number
  readonly secretKey: Uint8Array
  /** The last persisted record; omit on a validator's very first start. */
  readonly record?: SafetyRecord
  /** The committed head height: what committed since the record was stored is dropped. */
  readonly head: number
}

type Phase = 'prepare' | 'commit'

export class SafetyRules {
  private readonly genesis: Genesis
  private readonly index: number
  private readonly secretKey: Uint8Array
  private readonly n: number
  private readonly quorum: number
  private current: SafetyRecord

  constructor(options: SafetyRulesOptions) {
    this.genesis = options.genesis
    this.index = options.index
    this.secretKey = options.secretKey
    this.n = this.genesis.validators.length
    this.quorum = quorumSize(this.n)
    const r = options.record ?? EMPTY_SAFETY_RECORD
    this.current = {
      ...r,
      // Inside a view entered by a NEW-VIEW, its decision still binds after a restart.
      decision: !r.changing && r.decision?.view === r.view ? r.decision : null,
      prepared: r.prepared && r.prepared.proof.height === options.head + 1 ? r.prepared : null,
    }
  }

  /** The record to persist: every later signature depends on it being durable first. */
  get record(): SafetyRecord {
    return this.current
  }

  get view(): number {
    return this.current.view
  }

  get changing(): boolean {
    return this.current.changing
  }

  get prepared(): SafetyRecord['prepared'] {
    return this.current.prepared
  }

  /** What the NEW-VIEW of the current view requires, while it still matters. */
  get decision(): NewViewDecision | null {
    return this.current.decision
  }

  // ---- Votes ----

  /** The primary's proposal: its pre-prepare, which is also its prepare vote. */
  signPrePrepare(height: number, view: number, block: Block): SafetyResult<Uint8Array> {
    if (primaryOf(view, this.n) !== this.index) {
      return refuse('not-primary', `validator ${this.index} is not the primary of view ${view}`)
    }
    return this.signPrepareStatement(height, view, block)
  }

  /** A prepare vote for the proposal `block` at (height, view). */
  signPrepare(height: number, view: number, block: Block): SafetyResult<Uint8Array> {
    return this.signPrepareStatement(height, view, block)
  }

  /**
   * A commit vote for the block of `proof`: 2f+1 prepares make it prepared, and the highest
   * prepared proof is what a view change must carry, so it is recorded with the vote.
   */
  signCommit(proof: PreparedProof, block: Block): SafetyResult<Uint8Array> {
    const { height, view } = proof
    if (!proof.block.equals(block.hash)) {
      return refuse('not-prepared', `the prepared proof at height ${height} is for another block`)
    }
    const voters = new Set(proof.votes.map((v) => v.validator))
    if (voters.size < this.quorum) {
      return refuse('not-prepared', `${voters.size} prepare votes at height ${height}, ${this.quorum} needed`)
    }
    const refusal = this.checkVote('commit', height, view, block.hash)
    if (refusal) return err(refusal)
    const p = this.current.prepared
    const higher = !p || p.proof.height < height || (p.proof.height === height && p.proof.view < view)
    this.update({
      signed: this.nextSigned('commit', height, view, block.hash),
      ...(higher ? { prepared: { proof, block } } : {}),
    })
    return ok(signCommit(this.secretKey, this.genesis.chainId, height, view, block.hash))
  }

  /** Why a `phase` vote for `block` at (height, view) would contradict the record, if it would. */
  private checkVote(phase: Phase, height: number, view: number, block: CID): SafetyRefusal | undefined {
    const r = this.current
    if (view !== r.view || r.changing) {
      return {
        code: 'wrong-view',
        message: `a ${phase} vote in view ${view} while ${r.changing ? 'moving to' : 'in'} view ${r.view}`,
      }
    }
    const s = r.signed
    if (s === null) return undefined
    if (height < s.height || (height === s.height && view < s.view)) {
      return {
        code: 'vote-regress',
        message: `a ${phase} vote at height ${height}, view ${view} after one at height ${s.height}, view ${s.view}`,
      }
    }
    if (height > s.height || view > s.view) return undefined
    const previous = s[phase]
    if (previous !== null && !previous.equals(block)) {
      return {
        code: 'conflicting-vote',
        message: `a second ${phase} vote at height ${height}, view ${view} for another block`,
      }
    }
    return undefined
  }

  private signPrepareStatement(height: number, view: number, block: Block): SafetyResult<Uint8Array> {
    const d = this.current.decision
    if (d && d.view === view && d.height === height && d.block !== null && d.block !== block.hashString) {
      return refuse(
        'new-view-violated',
        `view ${view} must re-propose the prepared block at height ${height}`,
      )
    }
    const refusal = this.checkVote('prepare', height, view, block.hash)
    if (refusal) return err(refusal)
    this.update({ signed: this.nextSigned('prepare', height, view, block.hash) })
    return ok(
      sign(
        this.secretKey,
        SigningDomain.consensus,
        prepareStatement(this.genesis.chainId, height, view, block.hash),
      ),
    )
  }

  private nextSigned(phase: Phase, height: number, view: number, block: CID): SignedVotes {
    const s = this.current.signed
    const same = s !== null && s.height === height && s.view === view
    return {
      height,
      view,
      prepare: phase === 'prepare' ? block : same ? s.prepare : null,
      commit: phase === 'commit' ? block : same ? s.commit : null,
    }
  }

  // ---- Views ----

  /** Starts moving to view `target` (the record must be persisted before the view change is sent). */
  moveToView(target: number): SafetyResult<SafetyRecord> {
    const r = this.current
    if (!(target > r.view || (target === r.view && !r.changing))) {
      return refuse('view-regress', `a move to view ${target} from view ${r.view}`)
    }
    this.update({ view: target, changing: true, decision: null })
    return ok(this.current)
  }

  /**
   * The view-change vote for the view being moved to, from the committed `head`. It carries
   * the highest prepared proof above the head, with its block: leaving it out could let the
   * next view commit another block where this one may have committed.
   */
  signViewChange(head: HeadProof | null): SafetyResult<ViewChange> {
    const r = this.current
    if (!r.changing) return refuse('not-changing', `a view change while in view ${r.view}`)
    const next = (head?.height ?? 0) + 1
    const prepared = r.prepared && r.prepared.proof.height === next ? r.prepared : null
    const fields = { view: r.view, validator: this.index, head, prepared: prepared ? prepared.proof : null }
    const sig = sign(
      this.secretKey,
      SigningDomain.consensus,
      viewChangeStatement(this.genesis.chainId, fields),
    )
    return ok({ type: 'view-change', ...fields, sig, ...(prepared ? { preparedBlock: prepared.block } : {}) })
  }

  /** The NEW-VIEW of the view being moved to, from 2f+1 of its view-change votes. */
  signNewView(viewChanges: readonly ViewChange[]): SafetyResult<NewView> {
    const r = this.current
    if (!r.changing) return refuse('not-changing', `a NEW-VIEW while in view ${r.view}`)
    if (primaryOf(r.view, this.n) !== this.index) {
      return refuse('not-primary', `validator ${this.index} is not the primary of view ${r.view}`)
    }
    if (r.newViewSent >= r.view) {
      return refuse('new-view-repeated', `a NEW-VIEW for view ${r.view} after one for ${r.newViewSent}`)
    }
    const voters = new Set(viewChanges.filter((vc) => vc.view === r.view).map((vc) => vc.validator))
    if (voters.size < this.quorum) {
      return refuse('no-quorum', `${voters.size} view changes for view ${r.view}, ${this.quorum} needed`)
    }
    const fields = { view: r.view, validator: this.index, viewChanges }
    const sig = sign(this.secretKey, SigningDomain.consensus, newViewStatement(this.genesis.chainId, fields))
    this.update({ newViewSent: r.view })
    return ok({ type: 'new-view', ...fields, sig })
  }

  /** Enters the view of a checked NEW-VIEW decision, which binds the view's first proposal. */
  enterView(decision: NewViewDecision): SafetyResult<SafetyRecord> {
    const r = this.current
    if (decision.view < r.view || (decision.view === r.view && !r.changing)) {
      return refuse('view-regress', `entering view ${decision.view} from view ${r.view}`)
    }
    this.update({ view: decision.view, changing: false, decision })
    return ok(this.current)
  }

  /**
   * Height `height` committed: its prepared proof and NEW-VIEW decision no longer matter. Not
   * a signature, so nothing needs persisting now (a restart drops them by height anyway).
   */
  committed(height: number): void {
    const r = this.current
    const prepared = r.prepared && r.prepared.proof.height <= height ? null : r.prepared
    const decision = r.decision && r.decision.height <= height ? null : r.decision
    if (prepared !== r.prepared || decision !== r.decision) this.update({ prepared, decision })
  }

  /** Invariants of the record, checked by the replica after each input. */
  checkInvariants(head: number): void {
    const r = this.current
    assert(
      r.prepared === null || r.prepared.proof.height === head + 1,
      'a prepared proof is for the next height',
    )
    assert(r.signed === null || r.signed.view <= r.view, 'no vote is signed in a view ahead of ours')
  }

  private update(change: Partial<SafetyRecord>): void {
    this.current = { ...this.current, ...change }
  }
}

function refuse(
  code: SafetyRefusal['code'],
  message: string,
): { readonly ok: false; readonly error: SafetyRefusal } {
  return err({ code, message })
}
