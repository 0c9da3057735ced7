import type { CID } from '../codec/cid.js'
import type { Block } from '../ledger/block.js'
import type { Certificate } from '../ledger/certificate.js'
import type { Genesis } from '../ledger/genesis.js'
import type { LedgerState } from '../ledger/state.js'
import type { BlockFault } from '../ledger/verify-block.js'
import type { ConsensusLimits } from './limits.js'
import type { Mempool } from './mempool.js'
import type { Commit, Msg, PrePrepare, Prepare } from './messages.js'
import type { SafetyRecord } from './safety.js'
import type { SafetyRules } from './safety-rules.js'
import { primaryOf } from './view-change.js'

/**
 * What the parts of a replica share (the normal case, proposals, view change and catch-up,
 * each in its own file): the committed state, the clock as last told, the progress timers,
 * the signer and the outbox. Each part reaches the others only through the narrow hooks
 * declared here, which the `Replica` wires once; so the parts import this file, never each
 * other.
 */

export type ReplicaOutput =
  /** Send to one validator. */
  | { readonly type: 'send'; readonly to: number; readonly msg: Msg }
  /** Send to every other validator. */
  | { readonly type: 'broadcast'; readonly msg: Msg }
  /**
   * Store `record` durably, replacing the previous one, BEFORE transmitting any `send` or
   * `broadcast` output that comes after it. Restart the replica with the last stored record.
   */
  | { readonly type: 'persist'; readonly record: SafetyRecord }
  /** A block is final: store it with its certificate, announce it to followers. */
  | { readonly type: 'commit'; readonly block: Block; readonly cert: Certificate }
  /** Ask validator `from` for committed blocks from `height` on (a `sync-request` message). */
  | { readonly type: 'request-sync'; readonly from: number; readonly height: number; readonly count: number }
  /** A stable checkpoint: logs below `height` are gone; the driver may snapshot the state here. */
  | {
      readonly type: 'checkpoint'
      readonly height: number
      readonly block: Block
      readonly cert: Certificate
    }
  /** The replica entered a view (`changing` false) or started moving to one. */
  | { readonly type: 'view'; readonly view: number; readonly changing: boolean; readonly reason: string }
  /** Validator `from` sent something provably wrong: log it, penalise the peer. */
  | { readonly type: 'fault'; readonly from: number; readonly code: string; readonly message: string }

export interface VoteEntry {
  readonly block: string
  readonly cid: CID
  readonly sig: Uint8Array
  /** A second, different signed vote from the same validator was seen (and refused). */
  doubleVoted?: boolean
}

/** Everything known about one (height, view). */
export interface Slot {
  readonly height: number
  readonly view: number
  prePrepare: PrePrepare | null
  readonly prepares: Map<number, VoteEntry>
  readonly commits: Map<number, VoteEntry>
  myPrepare: Prepare | null
  myCommit: Commit | null
  /** The pre-prepare's block passed every check and this replica voted (or may not vote). */
  accepted: boolean
  equivocation: boolean
}

export interface Validated {
  readonly block: Block
  /** The committed state with the block applied, ready to merge. */
  readonly draft: LedgerState
}

/** The normal case (normal-case.ts) as the other parts use it. */
export interface NormalCaseHooks {
  slot(height: number, view: number): Slot
  /** The slot of (head + 1, current view), if any message for it arrived. */
  currentSlot(): Slot | undefined
  progressSlot(s: Slot): void
  /** Makes a validated block with its certificate the new head. */
  applyCommitted(v: Validated, cert: Certificate): void
  /** Drops slots of views that can no longer matter. */
  pruneViews(): void
}

/** Proposals and block checks (proposals.ts) as the other parts use them. */
export interface ProposalHooks {
  /** Checks a block against the head and the rules, once; keeps the resulting state. */
  validate(block: Block): BlockFault | undefined
  validated(hash: string): Validated | undefined
  /** Why a proposal is unacceptable, checked once per block. */
  checkProposal(pp: PrePrepare): { code: string; message: string } | undefined
  onCommitted(): void
}

/** The view change (view-change-protocol.ts) as the other parts use it. */
export interface ViewChangeHooks {
  startViewChange(target: number, reason: string): void
  /** A block attached to a view change, by CID string: what a new primary re-proposes. */
  carriedBlock(hash: string): Block | undefined
  onCommitted(height: number): void
}

/** Catch-up (catch-up.ts) as the other parts use it. */
export interface CatchUpHooks {
  /** Screens the height of a protocol message; true when the height is worth keeping. */
  screenHeight(from: number, height: number): boolean
  /** A peer has committed at least `height`; with `now`, sync without waiting. */
  noteAhead(peer: number, height: number, now?: boolean): void
  onCommitted(height: number): void
}

export interface ReplicaContextInit {
  readonly genesis: Genesis
  readonly index: number
  readonly limits: ConsensusLimits
  readonly mempool: Mempool
  readonly rules: SafetyRules
  readonly state: LedgerState
  readonly headCert: Certificate | null
  readonly now: number
}

export class ReplicaContext {
  readonly genesis: Genesis
  readonly index: number
  readonly n: number
  readonly f: number
  readonly quorum: number
  readonly limits: ConsensusLimits
  readonly mempool: Mempool
  /** The signer and its safety record: the view, and everything this validator signed. */
  readonly rules: SafetyRules
  state: LedgerState
  headCert: Certificate | null
  now: number

  lastProgressAt: number
  workSince: number | null = null
  lastRetransmitAt: number
  viewChangesInARow = 0

  outbox: ReplicaOutput[] = []

  // Wired once by the Replica, right after construction.
  normal!: NormalCaseHooks
  proposals!: ProposalHooks
  views!: ViewChangeHooks
  catchUp!: CatchUpHooks

  constructor(init: ReplicaContextInit, n: number, f: number, quorum: number) {
    this.genesis = init.genesis
    this.index = init.index
    this.n = n
    this.f = f
    this.quorum = quorum
    this.limits = init.limits
    this.mempool = init.mempool
    this.rules = init.rules
    this.state = init.state
    this.headCert = init.headCert
    this.now = init.now
    this.lastProgressAt = init.now
    this.lastRetransmitAt = init.now
  }

  get head(): number {
    return this.state.head.height
  }

  get view(): number {
    return this.rules.view
  }

  get changing(): boolean {
    return this.rules.changing
  }

  isPrimary(view = this.view): boolean {
    return primaryOf(view, this.n) === this.index
  }

  push(output: ReplicaOutput): void {
    this.outbox.push(output)
  }

  fault(from: number, code: string, message: string): void {
    this.push({ type: 'fault', from, code, message })
  }

  /** Emits the signer's record; it must be durable before any later message goes out. */
  persist(): void {
    this.push({ type: 'persist', record: this.rules.record })
  }

  timeout(): number {
    const k = Math.min(this.viewChangesInARow, 30)
    return Math.min(this.limits.viewChangeTimeoutBaseMs * 2 ** k, this.limits.viewChangeTimeoutMaxMs)
  }

  hasWork(): boolean {
    if (this.mempool.size > 0) return true
    return this.normal.currentSlot()?.prePrepare != null
  }

  /** Our status, to a peer that is behind or must learn where we stand. */
  sendStatus(to: number): void {
    this.push({ type: 'send', to, msg: { type: 'status', height: this.head, view: this.view } })
  }
}

export function slotKey(height: number, view: number): string {
  return `${height}/${view}`
}
