import { assert } from '../codec/assert.js'
import { type CID, cidToString } from '../codec/cid.js'
import { SigningDomain } from '../crypto/domains.js'
import { sign, verify } from '../crypto/ed25519.js'
import { type Block, makeBlock } from '../ledger/block.js'
import { type Certificate, type CommitVote, commitMessage, makeCertificate } from '../ledger/certificate.js'
import { faultTolerance, type Genesis, quorumSize } from '../ledger/genesis.js'
import type { Rejection } from '../ledger/rejection.js'
import { applyInPlace } from '../ledger/rules.js'
import type { LedgerState } from '../ledger/state.js'
import type { SignedTx } from '../ledger/tx.js'
import {
  type BlockFault,
  checkBlockCertificate,
  checkBlockStructure,
  checkStateRoot,
} from '../ledger/verify-block.js'
import { type ConsensusLimits, DEFAULT_CONSENSUS_LIMITS } from './limits.js'
import { Mempool, type MempoolRejection } from './mempool.js'
import {
  type CertifiedBlock,
  type Commit,
  type Msg,
  type NewView,
  newViewStatement,
  type PrePrepare,
  type Prepare,
  type PreparedProof,
  prepareStatement,
  signCommit,
  signPrepare,
  type ViewChange,
  viewChangeStatement,
} from './messages.js'
import { EMPTY_SAFETY_RECORD, type SafetyRecord, type SignedVotes } from './safety.js'
import {
  decideNewView,
  type NewViewDecision,
  primaryOf,
  type VerifiedCache,
  verifyNewView,
  verifyViewChange,
} from './view-change.js'

/**
 * A PBFT replica (DESIGN.md §4) as a deterministic state machine: no clock, no timers, no
 * randomness, no I/O. One block is decided at a time, at the height after the committed
 * head; the primary of a view keeps proposing until it is replaced.
 *
 * ## Driving it
 *
 * 1. Construct it with the committed state recovered from the store, the head's certificate
 *    and the last persisted `SafetyRecord` (or none on first start).
 * 2. Feed inputs: `handleMessage(from, msg, now)` for every decoded message from validator
 *    `from`, `submit(tx, now)` for a transaction from a client or gossip,
 *    `handleSyncResponse(from, blocks, now)` for blocks a sync peer sent, and `handleTick(now)`
 *    whenever the clock reaches `nextDeadline()` (calling it earlier is harmless).
 *    Decode with `decode(bytes, limits, { knownTx: replica.knownTx })`, so a proposal's
 *    transactions already in the mempool are not decoded twice.
 * 3. After construction and after every input, drain `poll()` and carry out the outputs IN
 *    ORDER. A `persist` output must be durable before any later `send` or `broadcast` (of
 *    the same or a later poll) is transmitted: that is how a restarted validator never signs
 *    two different blocks for one height and view. `commit` outputs should be stored (block
 *    and certificate) before the next input; one that is lost in a crash is synced again.
 * 4. Re-read `nextDeadline()` and arm one timer for it.
 *
 * `sync-request` messages are not for the core: the driver answers them from its store with
 * `serveSync`, so the core never reads storage.
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

export interface ReplicaOptions {
  /** This validator's index in genesis. */
  readonly index: number
  readonly secretKey: Uint8Array
  /** The committed state; the replica owns and advances it from now on. */
  readonly state: LedgerState
  /** The certificate of the head block; null only at genesis. */
  readonly headCert: Certificate | null
  /** The last persisted safety record; omit on a validator's very first start. */
  readonly safety?: SafetyRecord
  readonly now: number
  readonly limits?: Partial<ConsensusLimits>
  /** Broadcast transactions submitted here to the other validators (default true). */
  readonly relayTxs?: boolean
}

export type SubmitResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly rejection: Rejection | MempoolRejection }

interface VoteEntry {
  readonly block: string
  readonly cid: CID
  readonly sig: Uint8Array
  /** A second, different signed vote from the same validator was seen (and refused). */
  doubleVoted?: boolean
}

/** Everything known about one (height, view). */
interface Slot {
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

interface Validated {
  readonly block: Block
  /** The committed state with the block applied, ready to merge. */
  readonly draft: LedgerState
}

export class Replica {
  readonly genesis: Genesis
  readonly index: number
  readonly n: number
  readonly f: number
  readonly quorum: number
  readonly limits: ConsensusLimits
  readonly mempool: Mempool

  private readonly secretKey: Uint8Array
  private readonly relayTxs: boolean
  private state: LedgerState
  private headCert: Certificate | null
  private now: number

  private view: number
  private changing: boolean
  private signed: SignedVotes | null
  private prepared: SafetyRecord['prepared']
  private newViewSent: number

  private readonly slots = new Map<string, Slot>()
  private readonly validated = new Map<string, Validated>()
  /** View-change votes by view, then by validator (the latest from each). */
  private readonly viewChanges = new Map<number, Map<number, ViewChange>>()
  /** Blocks attached to view changes, by CID string: what a new primary re-proposes. */
  private readonly carriedBlocks = new Map<string, Block>()
  private readonly verified: VerifiedCache = new Set()
  private myViewChange: ViewChange | null = null
  private myNewView: NewView | null = null
  private constraint: NewViewDecision | null = null
  /** The (height, view) at which this primary may not propose (it signed another block there). */
  private proposalBlocked: string | null = null

  private lastProgressAt: number
  private workSince: number | null = null
  private quorumAt: number | null = null
  private viewChangesInARow = 0
  private lastRetransmitAt: number

  /** Heights peers showed they have committed beyond ours: where to sync from. */
  private readonly ahead = new Map<number, number>()
  private behindSince: number | null = null
  private syncing: { from: number; height: number; at: number } | null = null
  private lastSyncFailed: number | null = null
  /** Our head when we last told each peer it is behind, so each hears it once per height. */
  private readonly toldBehind = new Map<number, number>()

  private outbox: ReplicaOutput[] = []

  constructor(options: ReplicaOptions) {
    this.genesis = options.state.genesis
    this.n = this.genesis.validators.length
    this.f = faultTolerance(this.n)
    this.quorum = quorumSize(this.n)
    assert(
      Number.isInteger(options.index) && options.index >= 0 && options.index < this.n,
      'the index is a validator',
    )
    this.index = options.index
    this.secretKey = options.secretKey
    this.limits = { ...DEFAULT_CONSENSUS_LIMITS, ...options.limits }
    this.mempool = new Mempool({
      txsMax: this.limits.mempoolTxsMax,
      bytesMax: this.limits.mempoolBytesMax,
      signerSharePercent: this.limits.mempoolSignerSharePercent,
    })
    this.relayTxs = options.relayTxs ?? true
    this.state = options.state
    this.headCert = options.headCert
    assert(
      (this.headCert === null) === (this.state.head.height === 0),
      'a head above genesis has its certificate',
    )
    this.now = Math.floor(options.now)
    this.lastProgressAt = this.now
    this.lastRetransmitAt = this.now
    const safety = options.safety ?? EMPTY_SAFETY_RECORD
    this.view = safety.view
    this.changing = safety.changing
    this.signed = safety.signed
    this.newViewSent = safety.newViewSent
    // Inside a view entered by a NEW-VIEW, its decision still binds after a restart.
    this.constraint = !safety.changing && safety.decision?.view === safety.view ? safety.decision : null
    this.prepared = safety.prepared && safety.prepared.proof.height === this.head + 1 ? safety.prepared : null
    if (this.prepared) this.carriedBlocks.set(this.prepared.block.hashString, this.prepared.block)
    // Tell the others where we stand; a restarted validator learns from the replies whether
    // it must sync. A validator that was moving to a view says so again.
    this.push({ type: 'broadcast', msg: { type: 'status', height: this.head, view: this.view } })
    if (this.changing) this.sendViewChange()
  }

  // ---- Public reads ----

  get head(): number {
    return this.state.head.height
  }

  get currentView(): number {
    return this.view
  }

  get isChangingView(): boolean {
    return this.changing
  }

  get ledger(): LedgerState {
    return this.state
  }

  get certificate(): Certificate | null {
    return this.headCert
  }

  isPrimary(view = this.view): boolean {
    return primaryOf(view, this.n) === this.index
  }

  /**
   * For the driver's `decode(bytes, limits, { knownTx: replica.knownTx })`: transactions this
   * replica already holds need not be decoded again when a proposal carries them.
   */
  readonly knownTx = (envelope: Uint8Array): SignedTx | undefined => this.mempool.byEnvelope(envelope)

  /** The current safety record (what the last `persist` output carried). */
  safetyRecord(): SafetyRecord {
    return {
      view: this.view,
      changing: this.changing,
      signed: this.signed,
      prepared: this.prepared,
      newViewSent: this.newViewSent,
      decision: this.constraint,
    }
  }

  /** Drains the outputs produced so far, oldest first. */
  poll(): ReplicaOutput[] {
    const out = this.outbox
    this.outbox = []
    return out
  }

  /** The next time `handleTick` has something to do; undefined when only input can help. */
  nextDeadline(): number | undefined {
    let min: number | undefined
    for (const at of Object.values(this.deadlines()))
      if (at !== undefined && (min === undefined || at < min)) min = at
    return min
  }

  /** Every timer of the replica by name (for `nextDeadline`, and to debug a stuck run). */
  deadlines(): Record<string, number | undefined> {
    const timeout = this.timeout()
    const out: Record<string, number | undefined> = {}
    if (!this.changing) {
      if (this.workSince !== null) out.stalled = this.workSince + timeout
      out.silent = this.lastProgressAt + this.genesis.params.emptyBlockIntervalMs + timeout
      out.propose = this.proposalDueAt()
      if (!this.isPrimary() && this.mempool.size > 0)
        out.relay = this.mempool.nextRelayAt(this.relayRetryMs())
    } else if (this.quorumAt !== null) {
      out.newView = this.quorumAt + timeout
    }
    if (this.hasSomethingToRetransmit()) {
      out.retransmit = Math.max(this.lastProgressAt, this.lastRetransmitAt) + this.limits.retransmitMs
    }
    if (this.syncing) out.syncTimeout = this.syncing.at + this.limits.syncRequestTimeoutMs
    else if (this.behindSince !== null) out.sync = this.behindSince + this.limits.syncDelayMs
    return out
  }

  // ---- Inputs ----

  /** A transaction from a client (or gossip): admitted to the mempool if valid, then relayed. */
  submit(tx: SignedTx, now: number): SubmitResult {
    this.advance(now)
    const result = this.admit(tx)
    if (result.ok && this.relayTxs) this.push({ type: 'broadcast', msg: { type: 'tx', tx } })
    this.afterInput()
    return result
  }

  handleMessage(from: number, msg: Msg, now: number): void {
    this.advance(now)
    if (!Number.isInteger(from) || from < 0 || from >= this.n || from === this.index) {
      // The driver maps authenticated peers to validator indices; anything else is its bug.
      assert(false, 'messages come from another validator')
    }
    switch (msg.type) {
      case 'pre-prepare':
        this.onPrePrepare(from, msg)
        break
      case 'prepare':
      case 'commit':
        this.onVote(from, msg)
        break
      case 'view-change':
        this.onViewChange(from, msg)
        break
      case 'new-view':
        this.onNewView(from, msg)
        break
      case 'tx':
        this.admit(msg.tx)
        break
      case 'status':
        this.onStatus(from, msg.height)
        break
      case 'block':
        this.onCertifiedBlocks(from, [{ block: msg.block, cert: msg.cert }])
        break
      case 'sync-response':
        this.onCertifiedBlocks(from, msg.blocks)
        break
      case 'sync-request':
        // Answered by the driver from its store (`serveSync`).
        break
    }
    this.afterInput()
  }

  /** Blocks with certificates from a sync peer (the answer to a `request-sync`). */
  handleSyncResponse(from: number, blocks: readonly CertifiedBlock[], now: number): void {
    this.advance(now)
    this.onCertifiedBlocks(from, blocks)
    this.afterInput()
  }

  handleTick(now: number): void {
    this.advance(now)
    const timeout = this.timeout()
    if (!this.changing) {
      const stalled = this.workSince !== null && now >= this.workSince + timeout
      const silent = now >= this.lastProgressAt + this.genesis.params.emptyBlockIntervalMs + timeout
      if (stalled || silent) {
        this.startViewChange(this.view + 1, stalled ? 'no progress on pending work' : 'no block for too long')
      } else if (!this.isPrimary() && this.mempool.size > 0) {
        const primary = primaryOf(this.view, this.n)
        for (const tx of this.mempool.dueForRelay(now, this.relayRetryMs(), this.limits.relayBatchTxs)) {
          this.push({ type: 'send', to: primary, msg: { type: 'tx', tx } })
        }
      }
    } else if (this.quorumAt !== null && now >= this.quorumAt + timeout) {
      this.startViewChange(this.view + 1, `no NEW-VIEW for view ${this.view}`)
    }
    if (
      this.hasSomethingToRetransmit() &&
      now >= Math.max(this.lastProgressAt, this.lastRetransmitAt) + this.limits.retransmitMs
    ) {
      this.retransmit()
    }
    if (this.syncing && now >= this.syncing.at + this.limits.syncRequestTimeoutMs) {
      // An unanswered request: the peer's claim was unproven, forget it and ask another.
      this.dropSyncPeer(this.syncing.from)
    } else if (
      !this.syncing &&
      this.behindSince !== null &&
      now >= this.behindSince + this.limits.syncDelayMs
    ) {
      this.requestSync()
    }
    this.afterInput()
  }

  // ---- Time and bookkeeping ----

  private advance(now: number): void {
    // A driver's clock may stand still but never runs backwards for one replica. Whole
    // milliseconds: block times are integers on the wire.
    this.now = Math.max(this.now, Math.floor(now))
  }

  private push(output: ReplicaOutput): void {
    this.outbox.push(output)
  }

  private timeout(): number {
    const k = Math.min(this.viewChangesInARow, 30)
    return Math.min(this.limits.viewChangeTimeoutBaseMs * 2 ** k, this.limits.viewChangeTimeoutMaxMs)
  }

  private relayRetryMs(): number {
    return Math.max(1, Math.floor(this.limits.viewChangeTimeoutBaseMs / 2))
  }

  private persist(): void {
    this.push({ type: 'persist', record: this.safetyRecord() })
  }

  private fault(from: number, code: string, message: string): void {
    this.push({ type: 'fault', from, code, message })
  }

  private hasWork(): boolean {
    if (this.mempool.size > 0) return true
    return this.slots.get(slotKey(this.head + 1, this.view))?.prePrepare != null
  }

  private noteWork(): void {
    if (this.workSince === null && this.hasWork()) this.workSince = this.now
  }

  private afterInput(): void {
    if (!this.changing) this.maybePropose()
    this.noteWork()
    this.checkInvariants()
  }

  /** Cheap invariants, checked after every input. */
  checkInvariants(): void {
    assert(
      this.prepared === null || this.prepared.proof.height === this.head + 1,
      'a prepared proof is for the next height',
    )
    assert(this.signed === null || this.signed.view <= this.view, 'no vote is signed in a view ahead of ours')
    assert(
      this.slots.size <= (this.limits.heightsAheadMax + 1) * (2 * this.limits.viewsAheadMax + 1),
      'the message log is bounded',
    )
    assert(
      this.viewChanges.size <= this.limits.viewsAheadMax + 1,
      'view changes are kept for a bounded set of views',
    )
    assert(this.carriedBlocks.size <= this.n + 1, 'carried blocks are bounded by the validators')
    assert(this.validated.size <= 2 * this.limits.viewsAheadMax + 2, 'validated blocks are bounded')
    assert(
      this.headCert === null || this.headCert.height === this.head,
      'the head certificate is for the head',
    )
  }

  // ---- Signing, guarded by the safety record ----

  /**
   * May this replica sign a `phase` vote for `block` at (height, view)? Votes only move
   * forward: a later height, or a later view at the same height, or the same block again.
   */
  private maySign(phase: 'prepare' | 'commit', height: number, view: number, block: CID): boolean {
    const s = this.signed
    if (s === null) return true
    if (height !== s.height) return height > s.height
    if (view !== s.view) return view > s.view
    const previous = s[phase]
    return previous === null || previous.equals(block)
  }

  private recordSigned(phase: 'prepare' | 'commit', height: number, view: number, block: CID): void {
    const s = this.signed
    const same = s !== null && s.height === height && s.view === view
    this.signed = {
      height,
      view,
      prepare: phase === 'prepare' ? block : same ? s.prepare : null,
      commit: phase === 'commit' ? block : same ? s.commit : null,
    }
  }

  // ---- Normal case ----

  private slot(height: number, view: number): Slot {
    const key = slotKey(height, view)
    let s = this.slots.get(key)
    if (!s) {
      s = {
        height,
        view,
        prePrepare: null,
        prepares: new Map(),
        commits: new Map(),
        myPrepare: null,
        myCommit: null,
        accepted: false,
        equivocation: false,
      }
      this.slots.set(key, s)
    }
    return s
  }

  /** Is (height, view) inside the window of messages this replica keeps? */
  private inWindow(height: number, view: number): boolean {
    return (
      height > this.head &&
      height <= this.head + 1 + this.limits.heightsAheadMax &&
      view + this.limits.viewsAheadMax >= this.view &&
      view <= this.view + this.limits.viewsAheadMax
    )
  }

  private onPrePrepare(from: number, pp: PrePrepare): void {
    if (pp.validator !== from) {
      this.fault(from, 'impersonation', `pre-prepare in the name of validator ${pp.validator}`)
      return
    }
    if (pp.validator !== primaryOf(pp.view, this.n)) {
      this.fault(
        from,
        'not-primary',
        `pre-prepare for view ${pp.view} from validator ${pp.validator}, not its primary`,
      )
      return
    }
    if (pp.block.header.height !== pp.height) {
      this.fault(
        from,
        'bad-pre-prepare',
        `pre-prepare at height ${pp.height} carries a block at ${pp.block.header.height}`,
      )
      return
    }
    if (!this.screenHeight(from, pp.height)) return
    if (!this.inWindow(pp.height, pp.view) || pp.view < this.view) return
    const s = this.slot(pp.height, pp.view)
    if (s.prePrepare) {
      // One proof of equivocation is enough; later variants are not even checked.
      if (s.prePrepare.block.hash.equals(pp.block.hash) || s.equivocation) return
      if (!this.verifyPrepareSig(pp.validator, pp.height, pp.view, pp.block.hash, pp.sig)) {
        this.fault(from, 'bad-signature', 'pre-prepare signature does not verify')
        return
      }
      // Two signed proposals for one height and view: the primary is provably faulty.
      s.equivocation = true
      this.fault(
        pp.validator,
        'equivocation',
        `the primary of view ${pp.view} proposed two blocks at height ${pp.height}`,
      )
      if (!this.changing && pp.view === this.view)
        this.startViewChange(this.view + 1, 'the primary equivocated')
      return
    }
    if (!this.verifyPrepareSig(pp.validator, pp.height, pp.view, pp.block.hash, pp.sig)) {
      this.fault(from, 'bad-signature', 'pre-prepare signature does not verify')
      return
    }
    const existing = s.prepares.get(pp.validator)
    if (existing && existing.block !== pp.block.hashString) {
      s.equivocation = true
      if (!this.changing && pp.view === this.view)
        this.startViewChange(this.view + 1, 'the primary equivocated')
      return
    }
    s.prePrepare = pp
    s.prepares.set(pp.validator, { block: pp.block.hashString, cid: pp.block.hash, sig: pp.sig })
    this.progressSlot(s)
  }

  /**
   * Screens the height of a protocol message: a peer behind us hears our height once; a
   * peer ahead of us is remembered as a sync source. True when the height is worth keeping.
   */
  private screenHeight(from: number, height: number): boolean {
    if (height <= this.head) {
      if (this.toldBehind.get(from) !== this.head) {
        this.toldBehind.set(from, this.head)
        this.push({ type: 'send', to: from, msg: { type: 'status', height: this.head, view: this.view } })
      }
      return false
    }
    if (height > this.head + 1) this.noteAhead(from, height - 1)
    return true
  }

  private verifyPrepareSig(
    validator: number,
    height: number,
    view: number,
    block: CID,
    sig: Uint8Array,
  ): boolean {
    const key = this.genesis.validators[validator]?.publicKey
    if (!key) return false
    return verify(
      key,
      SigningDomain.consensus,
      prepareStatement(this.genesis.chainId, height, view, block),
      sig,
    )
  }

  private onVote(from: number, vote: Prepare | Commit): void {
    if (vote.validator >= this.n) {
      this.fault(from, 'unknown-validator', `vote from unknown validator ${vote.validator}`)
      return
    }
    // A validator sends only its own votes (retransmissions included), so a vote in another's
    // name is refused before its signature costs a verification: a byzantine validator cannot
    // make the others check floods of votes it claims to relay.
    if (vote.validator !== from) {
      this.fault(from, 'impersonation', `${vote.type} vote in the name of validator ${vote.validator}`)
      return
    }
    if (!this.screenHeight(from, vote.height)) return
    if (!this.inWindow(vote.height, vote.view)) return
    // Prepares of past views can no longer matter; commits of any kept view can still form
    // a certificate, and a certificate is final whatever the view.
    if (vote.type === 'prepare' && vote.view < this.view) return
    const s = this.slot(vote.height, vote.view)
    const votes = vote.type === 'prepare' ? s.prepares : s.commits
    const blockString = cidToString(vote.block)
    const existing = votes.get(vote.validator)
    // A repeat costs nothing; a second, different vote is checked before anyone is blamed.
    if (existing && (existing.block === blockString || existing.doubleVoted)) return
    const key = this.genesis.validators[vote.validator]!.publicKey
    const good =
      vote.type === 'prepare'
        ? verify(
            key,
            SigningDomain.consensus,
            prepareStatement(this.genesis.chainId, vote.height, vote.view, vote.block),
            vote.sig,
          )
        : verify(
            key,
            SigningDomain.commit,
            commitMessage(this.genesis.chainId, vote.height, vote.view, vote.block),
            vote.sig,
          )
    if (!good) {
      this.fault(from, 'bad-signature', `${vote.type} vote of validator ${vote.validator} does not verify`)
      return
    }
    if (existing) {
      // Two signed votes for two blocks: the validator is provably faulty; its first vote stands.
      existing.doubleVoted = true
      this.fault(
        vote.validator,
        'double-vote',
        `two ${vote.type} votes at height ${vote.height}, view ${vote.view}`,
      )
      return
    }
    votes.set(vote.validator, { block: blockString, cid: vote.block, sig: vote.sig })
    if (vote.type === 'commit') this.checkCommitted(s)
    else this.progressSlot(s)
  }

  /** Drives the slot of the current (height, view): accept the proposal, prepare, commit. */
  private progressSlot(s: Slot): void {
    if (s.height !== this.head + 1) return
    this.checkCommitted(s)
    if (s.height !== this.head + 1) return
    if (this.changing || s.view !== this.view) return
    const pp = s.prePrepare
    if (!pp) return
    if (!s.accepted) {
      if (s.equivocation) return
      const problem = this.checkProposal(pp)
      if (problem) {
        this.fault(pp.validator, problem.code, problem.message)
        this.startViewChange(this.view + 1, `invalid proposal: ${problem.message}`)
        return
      }
      s.accepted = true
      if (pp.validator !== this.index && this.maySign('prepare', s.height, s.view, pp.block.hash)) {
        const sig = signPrepare(this.secretKey, this.genesis.chainId, s.height, s.view, pp.block.hash)
        this.recordSigned('prepare', s.height, s.view, pp.block.hash)
        this.persist()
        const msg: Prepare = {
          type: 'prepare',
          view: s.view,
          height: s.height,
          block: pp.block.hash,
          validator: this.index,
          sig,
        }
        s.myPrepare = msg
        s.prepares.set(this.index, { block: pp.block.hashString, cid: pp.block.hash, sig })
        this.push({ type: 'broadcast', msg })
        this.lastRetransmitAt = this.now
      }
    }
    if (s.myCommit === null) {
      const votes = matching(s.prepares, pp.block.hashString)
      if (votes.length >= this.quorum && this.maySign('commit', s.height, s.view, pp.block.hash)) {
        const proof: PreparedProof = { height: s.height, view: s.view, block: pp.block.hash, votes }
        if (!this.prepared || this.prepared.proof.view < s.view) this.prepared = { proof, block: pp.block }
        const sig = signCommit(this.secretKey, this.genesis.chainId, s.height, s.view, pp.block.hash)
        this.recordSigned('commit', s.height, s.view, pp.block.hash)
        this.persist()
        const msg: Commit = {
          type: 'commit',
          view: s.view,
          height: s.height,
          block: pp.block.hash,
          validator: this.index,
          sig,
        }
        s.myCommit = msg
        s.commits.set(this.index, { block: pp.block.hashString, cid: pp.block.hash, sig })
        this.push({ type: 'broadcast', msg })
        this.lastRetransmitAt = this.now
        this.checkCommitted(s)
      }
    }
  }

  /** Why a proposal is unacceptable, checked once per block: structure, time, every rule. */
  private checkProposal(pp: PrePrepare): { code: string; message: string } | undefined {
    const block = pp.block
    const c = this.constraint
    if (c && c.view === pp.view && c.height === pp.height && c.block !== null) {
      if (block.hashString !== c.block) {
        return {
          code: 'new-view-violated',
          message: `view ${pp.view} must re-propose the prepared block at height ${pp.height}`,
        }
      }
    } else if (block.header.proposer !== pp.validator) {
      return { code: 'bad-proposer', message: `a new block must name its proposer ${pp.validator}` }
    } else if (block.header.time < this.now - this.limits.blockTimeLagMaxMs) {
      return {
        code: 'stale-block-time',
        message: `block time ${block.header.time} is too far behind ${this.now}`,
      }
    }
    if (block.header.time > this.now + this.limits.blockTimeDriftMaxMs) {
      return {
        code: 'future-block',
        message: `block time ${block.header.time} is too far ahead of ${this.now}`,
      }
    }
    const fault = this.validate(block)
    return fault ? { code: fault.code, message: fault.message } : undefined
  }

  /** Checks a block against the head and the rules, once; keeps the resulting state. */
  private validate(block: Block): BlockFault | undefined {
    if (this.validated.has(block.hashString)) return undefined
    const structural = checkBlockStructure(this.genesis, this.state.head, block)
    if (structural) return structural
    const draft = this.state.derive()
    const ctx = { height: block.header.height, time: block.header.time }
    for (const [index, tx] of block.txs.entries()) {
      // A transaction in our mempool had its signature checked on admission; the id covers
      // only the body, so the signature bytes must be the ones we checked.
      const pending = this.mempool.get(tx.idString)
      const checked = pending !== undefined && bytesEqualSig(pending.signature, tx.signature)
      const rejection = applyInPlace(draft, tx, ctx, { verifySignatures: !checked })
      if (rejection) {
        return {
          code: 'rejected-tx',
          message: `transaction ${index} of block ${block.header.height} is invalid: ${rejection.message}`,
          index,
          rejection,
        }
      }
    }
    // The header commits the state after the block; a primary that lies about it (or runs
    // other rules) is refused like one that lies about a transaction.
    const rootFault = checkStateRoot(draft, block)
    if (rootFault) return rootFault
    draft.head = { height: block.header.height, hash: block.hashString, time: block.header.time }
    this.validated.set(block.hashString, { block, draft })
    return undefined
  }

  /** Commits the slot's block once 2f+1 commit votes for one block are in. */
  private checkCommitted(s: Slot): void {
    if (s.height !== this.head + 1) return
    const counts = new Map<string, number>()
    let winner: string | undefined
    for (const v of s.commits.values()) {
      const c = (counts.get(v.block) ?? 0) + 1
      counts.set(v.block, c)
      if (c >= this.quorum) winner = v.block
    }
    if (winner === undefined) return
    let known = this.validated.get(winner)
    if (!known) {
      // The block may be known from a pre-prepare we did not act on (another view, or
      // while changing views): the certificate makes it final, so check it and apply it.
      for (const other of this.slots.values()) {
        if (other.height === s.height && other.prePrepare?.block.hashString === winner) {
          if (!this.validate(other.prePrepare.block)) known = this.validated.get(winner)
          break
        }
      }
      if (!known) {
        const carried = this.carriedBlocks.get(winner)
        if (carried && !this.validate(carried)) known = this.validated.get(winner)
      }
    }
    const votes: CommitVote[] = matching(s.commits, winner)
    if (!known) {
      // 2f+1 validators committed a block we do not have: fetch it from one of them.
      const from = votes.find((v) => v.validator !== this.index)?.validator
      if (from !== undefined) this.noteAhead(from, s.height, true)
      return
    }
    const cert = makeCertificate(s.height, s.view, known.block.hash, votes)
    this.applyCommitted(known, cert)
  }

  /** Makes a validated block with its certificate the new head. */
  private applyCommitted(v: Validated, cert: Certificate): void {
    const block = v.block
    assert(block.header.height === this.head + 1, 'blocks commit in height order')
    assert(cert.block.equals(block.hash), 'the certificate is for the block')
    v.draft.mergeIntoParent()
    assert(this.state.head.hash === block.hashString, 'the merged state is at the block')
    this.headCert = cert
    this.mempool.onCommit(
      block.txs.map((t) => t.idString),
      this.state,
    )
    this.push({ type: 'commit', block, cert })
    const h = block.header.height
    if (h % this.limits.checkpointIntervalBlocks === 0) {
      this.push({ type: 'checkpoint', height: h, block, cert })
      this.push({ type: 'broadcast', msg: { type: 'status', height: h, view: this.view } })
    }
    // Everything about heights at or below the new head is settled.
    for (const [key, s] of this.slots) if (s.height <= h) this.slots.delete(key)
    this.validated.clear()
    if (this.prepared && this.prepared.proof.height <= h) this.prepared = null
    for (const [key, b] of this.carriedBlocks) if (b.header.height <= h) this.carriedBlocks.delete(key)
    if (this.constraint && this.constraint.height <= h) this.constraint = null
    for (const [peer, height] of this.ahead) if (height <= h) this.ahead.delete(peer)
    if (this.ahead.size === 0) this.behindSince = null
    this.lastProgressAt = this.now
    this.viewChangesInARow = 0
    this.workSince = this.hasWork() ? this.now : null
    if (this.changing) {
      // Our view change now understates our head; send a fresh one.
      this.sendViewChange()
    }
    // The next height may already have messages waiting.
    for (const s of [...this.slots.values()]) if (s.height === h + 1) this.progressSlot(s)
  }

  // ---- Proposing ----

  /** When the primary should propose next, if it has nothing in flight. */
  private proposalDueAt(): number | undefined {
    if (!this.isPrimary() || this.changing) return undefined
    const key = slotKey(this.head + 1, this.view)
    if (this.slots.get(key)?.prePrepare || this.proposalBlocked === key) return undefined
    const headTime = this.state.head.time
    const c = this.constraint
    if (c && c.view === this.view && c.block !== null) {
      if (c.height !== this.head + 1) return undefined
      return this.carriedBlocks.has(c.block) ? this.now : undefined
    }
    if (c && c.view === this.view && c.height > this.head + 1) return undefined
    if (this.mempool.size > 0)
      return Math.max(headTime + this.genesis.params.blockIntervalMs, this.lastProgressAt)
    return headTime + this.genesis.params.emptyBlockIntervalMs
  }

  private maybePropose(): void {
    const due = this.proposalDueAt()
    if (due === undefined || due > this.now) return
    const height = this.head + 1
    const c = this.constraint
    let block: Block
    if (c && c.view === this.view && c.height === height && c.block !== null) {
      const carried = this.carriedBlocks.get(c.block)
      // Every view change that reports a prepared block attaches it; one that did not came
      // from a faulty validator, and then this view times out like a silent primary.
      if (!carried || this.validate(carried)) {
        this.proposalBlocked = slotKey(height, this.view)
        return
      }
      block = carried
    } else if (c && c.view === this.view && c.height > height) {
      return // behind the new view's first height: sync first
    } else {
      const time = Math.max(this.now, this.state.head.time)
      const { txs, draft } = this.mempool.take(
        this.state,
        { height, time },
        this.genesis.params.blockTxsMax,
        this.genesis.params.blockBytesMax - BLOCK_HEADER_ROOM_BYTES,
      )
      block = makeBlock(
        {
          chain: this.genesis.chainId,
          height,
          prev: this.headCid(),
          time,
          proposer: this.index,
          stateRoot: draft.stateRoot(),
        },
        txs,
      )
      const fault = checkBlockStructure(this.genesis, this.state.head, block)
      assert(fault === undefined, `the primary's own block is well formed: ${fault?.message}`)
      draft.head = { height, hash: block.hashString, time }
      this.validated.set(block.hashString, { block, draft })
    }
    if (!this.maySign('prepare', height, this.view, block.hash)) {
      // After a restart: we proposed another block here before. The view will time out.
      this.proposalBlocked = slotKey(height, this.view)
      return
    }
    const sig = signPrepare(this.secretKey, this.genesis.chainId, height, this.view, block.hash)
    this.recordSigned('prepare', height, this.view, block.hash)
    this.persist()
    const pp: PrePrepare = { type: 'pre-prepare', view: this.view, height, validator: this.index, block, sig }
    const s = this.slot(height, this.view)
    s.prePrepare = pp
    s.accepted = true
    s.prepares.set(this.index, { block: block.hashString, cid: block.hash, sig })
    this.push({ type: 'broadcast', msg: pp })
    this.lastRetransmitAt = this.now
    this.progressSlot(s)
  }

  private headCid(): CID | null {
    return this.headCert ? this.headCert.block : null
  }

  // ---- Retransmission ----

  private hasSomethingToRetransmit(): boolean {
    if (this.changing) return this.myViewChange !== null
    const s = this.slots.get(slotKey(this.head + 1, this.view))
    return (
      s !== undefined &&
      (s.myPrepare !== null || s.myCommit !== null || (s.prePrepare !== null && this.isPrimary()))
    )
  }

  /** Channels may drop messages: re-send our latest ones while nothing commits. */
  private retransmit(): void {
    this.lastRetransmitAt = this.now
    if (this.changing) {
      if (this.myViewChange) this.push({ type: 'broadcast', msg: this.myViewChange })
      return
    }
    if (this.myNewView && this.myNewView.view === this.view)
      this.push({ type: 'broadcast', msg: this.myNewView })
    const s = this.slots.get(slotKey(this.head + 1, this.view))
    if (!s) return
    if (s.prePrepare && s.prePrepare.validator === this.index)
      this.push({ type: 'broadcast', msg: s.prePrepare })
    if (s.myPrepare) this.push({ type: 'broadcast', msg: s.myPrepare })
    if (s.myCommit) this.push({ type: 'broadcast', msg: s.myCommit })
  }

  // ---- View change ----

  private startViewChange(target: number, reason: string): void {
    assert(target > this.view || (target === this.view && !this.changing), 'views only move forward')
    this.view = target
    this.changing = true
    this.quorumAt = null
    this.constraint = null
    this.viewChangesInARow += 1
    this.workSince = null
    this.persist()
    this.push({ type: 'view', view: target, changing: true, reason })
    this.pruneViews()
    this.sendViewChange()
    this.checkViewChangeQuorum()
  }

  /** Signs and broadcasts our view change for the view we are moving to. */
  private sendViewChange(): void {
    const head = this.headCert
      ? { height: this.headCert.height, block: this.headCert.block, cert: this.headCert }
      : null
    const prepared = this.prepared && this.prepared.proof.height === this.head + 1 ? this.prepared : null
    const fields = {
      view: this.view,
      validator: this.index,
      head,
      prepared: prepared ? prepared.proof : null,
    }
    const sig = sign(
      this.secretKey,
      SigningDomain.consensus,
      viewChangeStatement(this.genesis.chainId, fields),
    )
    const vc: ViewChange = {
      type: 'view-change',
      ...fields,
      sig,
      ...(prepared ? { preparedBlock: prepared.block } : {}),
    }
    this.myViewChange = vc
    this.verified.add(`vc/${this.index}/${hexOf(sig)}`)
    this.storeViewChange(vc)
    this.push({ type: 'broadcast', msg: vc })
    this.lastRetransmitAt = this.now
  }

  private storeViewChange(vc: ViewChange): void {
    let byValidator = this.viewChanges.get(vc.view)
    if (!byValidator) {
      byValidator = new Map()
      this.viewChanges.set(vc.view, byValidator)
    }
    byValidator.set(vc.validator, vc)
    if (vc.preparedBlock && !this.carriedBlocks.has(vc.preparedBlock.hashString)) {
      if (this.carriedBlocks.size >= this.n) {
        const oldest = this.carriedBlocks.keys().next()
        if (!oldest.done) this.carriedBlocks.delete(oldest.value)
      }
      this.carriedBlocks.set(vc.preparedBlock.hashString, vc.preparedBlock)
    }
  }

  private onViewChange(from: number, vc: ViewChange): void {
    if (vc.view < this.view || (vc.view === this.view && !this.changing)) {
      // The sender missed our move to this view; the primary repeats its NEW-VIEW.
      if (this.myNewView && this.myNewView.view === this.view && !this.changing) {
        this.push({ type: 'send', to: from, msg: this.myNewView })
      }
      return
    }
    if (vc.view > this.view + this.limits.viewsAheadMax) return
    const existing = this.viewChanges.get(vc.view)?.get(vc.validator)
    // A validator's later vote for the same view is kept only if it reports a higher head
    // (checked before the costly verification, so a flood of variants costs nothing).
    if (existing && (existing.head?.height ?? 0) >= (vc.head?.height ?? 0)) return
    const fault = verifyViewChange(this.genesis, vc, this.verified)
    if (fault) {
      this.fault(from, fault.code, fault.message)
      return
    }
    this.storeViewChange(vc)
    if (vc.head && vc.head.height > this.head) this.noteAhead(vc.validator, vc.head.height)
    this.maybeJoinViewChange()
    this.checkViewChangeQuorum()
  }

  /** f+1 validators want a later view: at least one honest one timed out, so join them. */
  private maybeJoinViewChange(): void {
    const wanted: number[] = []
    for (let v = 0; v < this.n; v++) {
      if (v === this.index) continue
      let best = -1
      for (const [view, byValidator] of this.viewChanges) {
        if (view > this.view && view > best && byValidator.has(v)) best = view
      }
      if (best > 0) wanted.push(best)
    }
    if (wanted.length < this.f + 1) return
    wanted.sort((a, b) => b - a)
    const target = wanted[this.f]!
    if (target > this.view) this.startViewChange(target, `${this.f + 1} validators moved to view ${target}`)
  }

  private checkViewChangeQuorum(): void {
    if (!this.changing) return
    const votes = this.viewChanges.get(this.view)
    if (!votes || votes.size < this.quorum) return
    if (this.quorumAt === null) this.quorumAt = this.now
    if (this.isPrimary() && this.newViewSent < this.view) this.sendNewView(votes)
  }

  private sendNewView(votes: Map<number, ViewChange>): void {
    // Our own vote first (it is the freshest view of our head), then by validator index.
    const chosen: ViewChange[] = []
    const mine = votes.get(this.index)
    if (mine) chosen.push(mine)
    for (const v of [...votes.keys()].sort((a, b) => a - b)) {
      if (chosen.length >= this.quorum) break
      if (v !== this.index) chosen.push(votes.get(v)!)
    }
    const stripped = chosen.map(stripBlock)
    const fields = { view: this.view, validator: this.index, viewChanges: stripped }
    const sig = sign(this.secretKey, SigningDomain.consensus, newViewStatement(this.genesis.chainId, fields))
    const nv: NewView = { type: 'new-view', ...fields, sig }
    this.newViewSent = this.view
    this.myNewView = nv
    this.persist()
    this.push({ type: 'broadcast', msg: nv })
    this.enterView(decideNewView(this.view, stripped), 'sent NEW-VIEW')
  }

  private onNewView(from: number, nv: NewView): void {
    if (nv.view < this.view || (nv.view === this.view && !this.changing)) return
    if (nv.view > this.view + this.limits.viewsAheadMax) return
    const checked = verifyNewView(this.genesis, nv, this.verified)
    if (!checked.ok) {
      this.fault(from, checked.fault.code, checked.fault.message)
      return
    }
    for (const vc of nv.viewChanges) {
      if (vc.head && vc.head.height > this.head) this.noteAhead(vc.validator, vc.head.height)
    }
    if (this.view !== nv.view) {
      this.view = nv.view
      this.viewChangesInARow += 1
    }
    this.enterView(checked.decision, `NEW-VIEW from validator ${nv.validator}`)
  }

  /** Enters the view of a checked NEW-VIEW decision. */
  private enterView(decision: NewViewDecision, reason: string): void {
    assert(decision.view === this.view, 'the decision is for the view we enter')
    this.changing = false
    this.quorumAt = null
    this.myViewChange = null
    this.constraint = decision
    this.lastProgressAt = this.now
    this.workSince = null
    this.persist()
    this.push({ type: 'view', view: this.view, changing: false, reason })
    this.pruneViews()
    if (decision.height - 1 > this.head) this.noteAhead(decision.headFrom, decision.height - 1, true)
    if (decision.height <= this.head) {
      // We are ahead of the new view's start: tell its primary, so it syncs.
      const primary = primaryOf(this.view, this.n)
      if (primary !== this.index) {
        this.push({ type: 'send', to: primary, msg: { type: 'status', height: this.head, view: this.view } })
      }
    }
    const s = this.slots.get(slotKey(this.head + 1, this.view))
    if (s) this.progressSlot(s)
  }

  /** Drops messages of views that can no longer matter. */
  private pruneViews(): void {
    for (const [key, s] of this.slots) {
      if (s.view + this.limits.viewsAheadMax < this.view || s.view > this.view + this.limits.viewsAheadMax) {
        this.slots.delete(key)
      }
    }
    for (const view of this.viewChanges.keys()) {
      if (view < this.view || view > this.view + this.limits.viewsAheadMax) this.viewChanges.delete(view)
    }
    if (this.myNewView && this.myNewView.view < this.view) this.myNewView = null
    // The cache only saves work; start it afresh rather than let it grow.
    if (this.verified.size > 64 * this.n) this.verified.clear()
  }

  // ---- Catch-up ----

  /** A peer has committed at least `height`; with `now`, sync without waiting. */
  private noteAhead(peer: number, height: number, now = false): void {
    if (peer === this.index || height <= this.head) return
    this.ahead.set(peer, Math.max(this.ahead.get(peer) ?? 0, height))
    if (this.behindSince === null) this.behindSince = this.now
    if (now || height > this.head + 1 + this.limits.heightsAheadMax) {
      if (!this.syncing) this.requestSync()
    }
  }

  private onStatus(from: number, height: number): void {
    if (height > this.head) this.noteAhead(from, height, true)
    else if (height < this.head && this.toldBehind.get(from) !== this.head) {
      this.toldBehind.set(from, this.head)
      this.push({ type: 'send', to: from, msg: { type: 'status', height: this.head, view: this.view } })
    }
  }

  private requestSync(): void {
    let best: number | undefined
    let bestHeight = this.head
    for (const [peer, height] of this.ahead) {
      if (height <= this.head) continue
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
    this.syncing = { from: best, height: this.head + 1, at: this.now }
    this.push({ type: 'request-sync', from: best, height: this.head + 1, count: this.limits.syncBlocksMax })
  }

  /** Committed blocks from a peer, each checked in full: the sender is never trusted. */
  private onCertifiedBlocks(from: number, blocks: readonly CertifiedBlock[]): void {
    let applied = 0
    for (const { block, cert } of blocks) {
      const h = block.header.height
      if (h <= this.head) continue
      if (h > this.head + 1) {
        this.noteAhead(from, h)
        break
      }
      const certFault = checkBlockCertificate(this.genesis, block, cert)
      if (certFault) {
        this.fault(from, certFault.code, certFault.message)
        this.dropSyncPeer(from)
        return
      }
      const fault = this.validate(block)
      if (fault) {
        this.fault(from, fault.code, fault.message)
        this.dropSyncPeer(from)
        return
      }
      this.applyCommitted(this.validated.get(block.hashString)!, cert)
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

  // ---- Mempool ----

  private admit(tx: SignedTx): SubmitResult {
    if (this.state.txs.has(tx.idString)) {
      return {
        ok: false,
        rejection: { code: 'tx.duplicate', message: `transaction ${tx.idString} is already committed` },
      }
    }
    return this.mempool.admit(
      tx,
      this.state,
      { height: this.head + 1, time: Math.max(this.now, this.state.head.time) },
      this.now,
    )
  }
}

/** Room kept in a block for its header and framing besides the transactions. */
const BLOCK_HEADER_ROOM_BYTES = 1024

function slotKey(height: number, view: number): string {
  return `${height}/${view}`
}

function matching(votes: Map<number, VoteEntry>, block: string): CommitVote[] {
  const out: CommitVote[] = []
  for (const [validator, v] of votes) if (v.block === block) out.push({ validator, sig: v.sig })
  return out.sort((a, b) => a.validator - b.validator)
}

function stripBlock(vc: ViewChange): ViewChange {
  if (!vc.preparedBlock) return vc
  const { preparedBlock: _, ...rest } = vc
  return rest
}

function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

function bytesEqualSig(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0
}
