import { assert } from '../codec/assert.js'
import type { Certificate } from '../ledger/certificate.js'
import { faultTolerance, type Genesis, quorumSize } from '../ledger/genesis.js'
import type { Rejection } from '../ledger/rejection.js'
import type { LedgerState } from '../ledger/state.js'
import type { SignedTx } from '../ledger/tx.js'
import { CatchUp } from './catch-up.js'
import { type ConsensusLimits, DEFAULT_CONSENSUS_LIMITS } from './limits.js'
import { Mempool, type MempoolRejection } from './mempool.js'
import type { CertifiedBlock, Msg } from './messages.js'
import { NormalCase } from './normal-case.js'
import { Proposals } from './proposals.js'
import { ReplicaContext, type ReplicaOutput } from './replica-context.js'
import type { SafetyRecord } from './safety.js'
import { SafetyRules } from './safety-rules.js'
import { primaryOf } from './view-change.js'
import { ViewChangeProtocol } from './view-change-protocol.js'

export type { ReplicaOutput } from './replica-context.js'

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
 *
 * `ReplicaDriver` (replica-driver.ts) does steps 2 to 4 for a host that says how to send,
 * persist, commit and arm a timer; the node, both simulators, the tests and the bench use it.
 */

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

export class Replica {
  readonly genesis: Genesis
  readonly index: number
  readonly n: number
  readonly f: number
  readonly quorum: number
  readonly limits: ConsensusLimits
  readonly mempool: Mempool

  private readonly relayTxs: boolean
  /** The state every part shares; the signer inside it alone holds the validator key. */
  private readonly c: ReplicaContext
  private readonly normal: NormalCase
  private readonly proposals: Proposals
  private readonly views: ViewChangeProtocol
  private readonly catchUp: CatchUp

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
    this.limits = { ...DEFAULT_CONSENSUS_LIMITS, ...options.limits }
    this.mempool = new Mempool({
      txsMax: this.limits.mempoolTxsMax,
      bytesMax: this.limits.mempoolBytesMax,
      signerSharePercent: this.limits.mempoolSignerSharePercent,
    })
    this.relayTxs = options.relayTxs ?? true
    assert(
      (options.headCert === null) === (options.state.head.height === 0),
      'a head above genesis has its certificate',
    )
    // The key goes to the signer and nowhere else.
    const rules = new SafetyRules({
      genesis: this.genesis,
      index: this.index,
      secretKey: options.secretKey,
      ...(options.safety ? { record: options.safety } : {}),
      head: options.state.head.height,
    })
    const c = new ReplicaContext(
      {
        genesis: this.genesis,
        index: this.index,
        limits: this.limits,
        mempool: this.mempool,
        rules,
        state: options.state,
        headCert: options.headCert,
        now: Math.floor(options.now),
      },
      this.n,
      this.f,
      this.quorum,
    )
    this.c = c
    this.normal = c.normal = new NormalCase(c)
    this.proposals = c.proposals = new Proposals(c)
    this.views = c.views = new ViewChangeProtocol(c)
    this.catchUp = c.catchUp = new CatchUp(c)
    // Tell the others where we stand; a restarted validator learns from the replies whether
    // it must sync. A validator that was moving to a view says so again.
    c.push({ type: 'broadcast', msg: { type: 'status', height: this.head, view: c.view } })
    this.views.resume()
  }

  // ---- Public reads ----

  get head(): number {
    return this.c.head
  }

  get currentView(): number {
    return this.c.view
  }

  get isChangingView(): boolean {
    return this.c.changing
  }

  get ledger(): LedgerState {
    return this.c.state
  }

  get certificate(): Certificate | null {
    return this.c.headCert
  }

  isPrimary(view = this.c.view): boolean {
    return this.c.isPrimary(view)
  }

  /**
   * For the driver's `decode(bytes, limits, { knownTx: replica.knownTx })`: transactions this
   * replica already holds need not be decoded again when a proposal carries them.
   */
  readonly knownTx = (envelope: Uint8Array): SignedTx | undefined => this.mempool.byEnvelope(envelope)

  /** The current safety record (what the last `persist` output carried). */
  safetyRecord(): SafetyRecord {
    return this.c.rules.record
  }

  /** Drains the outputs produced so far, oldest first. */
  poll(): ReplicaOutput[] {
    const out = this.c.outbox
    this.c.outbox = []
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
    const c = this.c
    const timeout = c.timeout()
    const out: Record<string, number | undefined> = {}
    if (!c.changing) {
      if (c.workSince !== null) out.stalled = c.workSince + timeout
      out.silent = c.lastProgressAt + this.genesis.params.emptyBlockIntervalMs + timeout
      out.propose = this.proposals.proposalDueAt()
      if (!c.isPrimary() && this.mempool.size > 0) out.relay = this.mempool.nextRelayAt(this.relayRetryMs())
    } else if (this.views.quorumAt !== null) {
      out.newView = this.views.quorumAt + timeout
    }
    if (this.hasSomethingToRetransmit()) {
      out.retransmit = Math.max(c.lastProgressAt, c.lastRetransmitAt) + this.limits.retransmitMs
    }
    this.catchUp.deadlines(out)
    return out
  }

  // ---- Inputs ----

  /** A transaction from a client (or gossip): admitted to the mempool if valid, then relayed. */
  submit(tx: SignedTx, now: number): SubmitResult {
    this.advance(now)
    const result = this.admit(tx)
    if (result.ok && this.relayTxs) this.c.push({ type: 'broadcast', msg: { type: 'tx', tx } })
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
        this.normal.onPrePrepare(from, msg)
        break
      case 'prepare':
      case 'commit':
        this.normal.onVote(from, msg)
        break
      case 'view-change':
        this.views.onViewChange(from, msg)
        break
      case 'new-view':
        this.views.onNewView(from, msg)
        break
      case 'tx':
        this.admit(msg.tx)
        break
      case 'status':
        this.catchUp.onStatus(from, msg.height)
        break
      case 'block':
        this.catchUp.onCertifiedBlocks(from, [{ block: msg.block, cert: msg.cert }])
        break
      case 'sync-response':
        this.catchUp.onCertifiedBlocks(from, msg.blocks)
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
    this.catchUp.onCertifiedBlocks(from, blocks)
    this.afterInput()
  }

  handleTick(now: number): void {
    this.advance(now)
    const c = this.c
    const timeout = c.timeout()
    if (!c.changing) {
      const stalled = c.workSince !== null && now >= c.workSince + timeout
      const silent = now >= c.lastProgressAt + this.genesis.params.emptyBlockIntervalMs + timeout
      if (stalled || silent) {
        this.views.startViewChange(
          c.view + 1,
          stalled ? 'no progress on pending work' : 'no block for too long',
        )
      } else if (!c.isPrimary() && this.mempool.size > 0) {
        const primary = primaryOf(c.view, this.n)
        for (const tx of this.mempool.dueForRelay(now, this.relayRetryMs(), this.limits.relayBatchTxs)) {
          c.push({ type: 'send', to: primary, msg: { type: 'tx', tx } })
        }
      }
    } else if (this.views.quorumAt !== null && now >= this.views.quorumAt + timeout) {
      this.views.startViewChange(c.view + 1, `no NEW-VIEW for view ${c.view}`)
    }
    if (
      this.hasSomethingToRetransmit() &&
      now >= Math.max(c.lastProgressAt, c.lastRetransmitAt) + this.limits.retransmitMs
    ) {
      this.retransmit()
    }
    this.catchUp.handleTick(now)
    this.afterInput()
  }

  // ---- Time and bookkeeping ----

  private advance(now: number): void {
    // A driver's clock may stand still but never runs backwards for one replica. Whole
    // milliseconds: block times are integers on the wire.
    this.c.now = Math.max(this.c.now, Math.floor(now))
  }

  private relayRetryMs(): number {
    return Math.max(1, Math.floor(this.limits.viewChangeTimeoutBaseMs / 2))
  }

  private afterInput(): void {
    const c = this.c
    if (!c.changing) this.proposals.maybePropose()
    if (c.workSince === null && c.hasWork()) c.workSince = c.now
    this.checkInvariants()
  }

  private hasSomethingToRetransmit(): boolean {
    return this.c.changing ? this.views.hasSomethingToRetransmit() : this.normal.hasSomethingToRetransmit()
  }

  /** Channels may drop messages: re-send our latest ones while nothing commits. */
  private retransmit(): void {
    this.c.lastRetransmitAt = this.c.now
    this.views.retransmit()
    if (!this.c.changing) this.normal.retransmit()
  }

  /** Cheap invariants, checked after every input. */
  checkInvariants(): void {
    const c = this.c
    c.rules.checkInvariants(this.head)
    assert(
      this.normal.slotCount <= (this.limits.heightsAheadMax + 1) * (2 * this.limits.viewsAheadMax + 1),
      'the message log is bounded',
    )
    assert(
      this.views.viewCount <= this.limits.viewsAheadMax + 1,
      'view changes are kept for a bounded set of views',
    )
    assert(this.views.carriedCount <= this.n + 1, 'carried blocks are bounded by the validators')
    assert(this.proposals.validatedCount <= 2 * this.limits.viewsAheadMax + 2, 'validated blocks are bounded')
    assert(c.headCert === null || c.headCert.height === this.head, 'the head certificate is for the head')
  }

  // ---- Mempool ----

  private admit(tx: SignedTx): SubmitResult {
    const c = this.c
    if (c.state.txs.has(tx.idString)) {
      return {
        ok: false,
        rejection: { code: 'tx.duplicate', message: `transaction ${tx.idString} is already committed` },
      }
    }
    return this.mempool.admit(
      tx,
      c.state,
      { height: this.head + 1, time: Math.max(c.now, c.state.head.time) },
      c.now,
    )
  }
}
