import { EventEmitter } from 'node:events'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  type CertifiedBlock,
  decodeSafetyRecord,
  encodeSafetyRecord,
  Follower,
  type Msg,
  Replica,
  ReplicaDriver,
  type ReplicaHost,
  type SafetyRecord,
} from '../consensus/index.js'
import { RECENT_REJECTIONS_MAX, TX_WAITERS_MAX } from '../constants.js'
import type { Block } from '../ledger/block.js'
import type { Certificate } from '../ledger/certificate.js'
import type { LedgerStore } from '../ledger/ledger-store.js'
import type { Rejection } from '../ledger/rejection.js'
import { apply } from '../ledger/rules.js'
import type { LedgerState } from '../ledger/state.js'
import type { SignedTx } from '../ledger/tx.js'
import { checkBlockAlone, checkBlockCertificate } from '../ledger/verify-block.js'
import { type Clock, monotonicClock, systemClock } from './clock.js'
import type { Logger } from './log.js'
import type { ValidatorChannels } from './pbft-protocol.js'
import { clampTimerDelay } from './timers.js'

/** What happened to a submitted transaction. */
export type TxOutcome =
  | { readonly status: 'committed'; readonly height: number }
  | { readonly status: 'rejected'; readonly rejection: Rejection }
  | { readonly status: 'pending' }

/**
 * What gossip validation makes of a message (src/node/gossip.ts maps it to gossipsub's
 * Accept/Ignore/Reject): `accept` delivers and forwards it; `ignore` drops it without blame
 * (stale, already known, refused by rules the sender may not have seen yet); `reject` drops it
 * and lowers the sender's score (forged, malformed, over a limit: nothing an honest peer
 * forwards, as every node validates before it forwards).
 */
export type GossipVerdict = 'accept' | 'ignore' | 'reject'

/** Rejections of a transaction that no honest node forwards: its form or its signature. */
const FORGED_TX_CODES: ReadonlySet<string> = new Set([
  'tx.malformed',
  'tx.wrong-chain',
  'tx.bad-signature',
  'tx.too-large',
])

export interface RecentRejection {
  readonly tx: string
  readonly type: string
  readonly code: string
  readonly message: string
  readonly at: number
}

export interface LedgerDriverEvents {
  /** A committed block is in the store (validators relay it from here). */
  committed: [block: Block, cert: Certificate]
  /**
   * The core has checked a block's certificate and applied it to `ledger`; the store's write
   * follows. A device's agent acts from here: the write (not fsync'd on followers) took
   * 0.3-1.4 s on a loaded 2-core machine before the agent saw the approval (cpuBound swarm
   * run), and a crash that loses it loses no more than a crash after it: the block is
   * committed by its certificate, and sync fetches it again.
   */
  certified: [block: Block]
}

const SAFETY_KEY = 'consensus/safety'

/**
 * Drives the ledger core of this node with real time: a PBFT `Replica` on validators, a
 * `Follower` everywhere else. Inputs go in synchronously; outputs are carried out strictly in
 * order by one async queue, so a `persist` is durable before any later message leaves
 * (the replica's contract), and each committed block is in the store before it is announced.
 */
export class LedgerDriver extends EventEmitter<LedgerDriverEvents> {
  private readonly outputs: Array<() => Promise<void>> = []
  private draining = false
  private timer: NodeJS.Timeout | undefined
  private stopped = false
  private readonly waiters = new Map<string, Array<(outcome: TxOutcome) => void>>()
  private readonly rejections: RecentRejection[] = []
  /** The one replica driver (src/consensus/replica-driver.ts), on validators. */
  private readonly replicaDriver: ReplicaDriver | undefined

  private constructor(
    readonly store: LedgerStore,
    private readonly core:
      | { kind: 'validator'; replica: Replica; channels: ValidatorChannels }
      | { kind: 'follower'; follower: Follower<string> },
    private readonly syncFrom: (
      peer: string,
      height: number,
      count: number,
    ) => Promise<CertifiedBlock[] | null>,
    private readonly log: Logger,
    /** How old the head block may be for the chain to count as live (`ledger.max_chain_age`). */
    readonly maxChainAgeMs: number,
    /** The node's clock: the core's time, and the time of the blocks this validator proposes. */
    private readonly clock: Clock,
  ) {
    super()
    if (core.kind === 'validator')
      this.replicaDriver = new ReplicaDriver(core.replica, this.host(core.channels))
  }

  /** A validator: recovers its safety record from the store, then runs a replica. */
  static async validator(options: {
    store: LedgerStore
    index: number
    secretKey: Uint8Array
    channels: ValidatorChannels
    syncFrom: (peer: string, height: number, count: number) => Promise<CertifiedBlock[] | null>
    log: Logger
    maxChainAgeMs: number
    /** The node's clock; the system clock by default. */
    clock?: Clock
  }): Promise<LedgerDriver> {
    const { store } = options
    const clock = options.clock ?? systemClock
    const saved = await store.getMeta(SAFETY_KEY)
    let safety: SafetyRecord | undefined
    if (saved) {
      const decoded = decodeSafetyRecord(saved)
      // A validator that cannot read what it signed must not guess: signing again could equivocate.
      if (!decoded.ok)
        throw new Error(
          `the consensus safety record is unreadable (${decoded.error.message}); refusing to start as a validator`,
        )
      safety = decoded.value
    }
    const headCert = store.head.height > 0 ? ((await store.block(store.head.height))?.cert ?? null) : null
    const replica = new Replica({
      index: options.index,
      secretKey: options.secretKey,
      // The core gets its own copy of the committed state: it merges each block into it, while
      // the store re-derives and persists the same change (appendVerified).
      state: store.state.copy(),
      headCert,
      ...(safety ? { safety } : {}),
      now: clock.now(),
    })
    // The core checks every block's state root from here on; the store needs no digest.
    store.releaseStateDigest()
    const driver = new LedgerDriver(
      store,
      { kind: 'validator', replica, channels: options.channels },
      options.syncFrom,
      options.log,
      options.maxChainAgeMs,
      clock,
    )
    driver.drain()
    return driver
  }

  static async follower(options: {
    store: LedgerStore
    syncFrom: (peer: string, height: number, count: number) => Promise<CertifiedBlock[] | null>
    log: Logger
    maxChainAgeMs: number
    /** The node's clock; the system clock by default. */
    clock?: Clock
  }): Promise<LedgerDriver> {
    const clock = options.clock ?? systemClock
    const follower = new Follower<string>({ state: options.store.state.copy(), now: clock.now() })
    // The core checks every block's state root from here on; the store needs no digest.
    options.store.releaseStateDigest()
    const driver = new LedgerDriver(
      options.store,
      { kind: 'follower', follower },
      options.syncFrom,
      options.log,
      options.maxChainAgeMs,
      clock,
    )
    driver.drain()
    return driver
  }

  get isValidator(): boolean {
    return this.core.kind === 'validator'
  }

  /** The core's committed state: what eligibility and the API read. */
  get ledger(): LedgerState {
    return this.core.kind === 'validator' ? this.core.replica.ledger : this.core.follower.ledger
  }

  get view(): number | null {
    return this.core.kind === 'validator' ? this.core.replica.currentView : null
  }

  /** How old the head block is: its time was signed with it by a quorum of validators. */
  chainAgeMs(now: number): number {
    return Math.max(0, now - this.ledger.head.time)
  }

  /**
   * True while the head block is at most `maxChainAgeMs` old. Validators commit a block at
   * least every heartbeat interval (genesis `params.emptyBlockIntervalMs`), so an older head
   * means the chain stopped or is withheld from this node (a freeze attack).
   */
  isLive(now: number): boolean {
    return this.chainAgeMs(now) <= this.maxChainAgeMs
  }

  recentRejections(): readonly RecentRejection[] {
    return this.rejections
  }

  // ---- Inputs ----

  /** A message from validator `from` (validators only). */
  handleValidatorMessage(from: number, msg: Msg): void {
    if (this.core.kind !== 'validator' || this.stopped) return
    if (msg.type === 'sync-request') return
    this.replicaDriver?.handleMessage(from, msg)
  }

  /** Encoded bytes of the blocks a follower holds ahead of its head (0 on validators). */
  get pendingBytes(): number {
    return this.core.kind === 'follower' ? this.core.follower.pendingBytes : 0
  }

  /**
   * A committed block offered by a peer (gossip), before gossipsub forwards it: the verdict
   * decides whether it does. A block at or below the head is ignored unchecked. Any other is
   * checked on its own (chain, proposer, size, transaction root) and by its certificate, at
   * any height: a forgery is rejected. A follower then takes it (applied, or held ahead of its
   * head); the certificate's verdict is remembered, so neither the follower nor the store
   * verifies its signatures again. A genuine block is accepted, so it spreads, whatever its
   * height: it is committed, and neighbours nearer the head want it.
   */
  gossipBlock(from: string, block: Block, cert: Certificate): GossipVerdict {
    if (this.stopped) return 'ignore'
    const ledger = this.ledger
    if (block.header.height <= ledger.head.height) return 'ignore'
    const fault = checkBlockAlone(ledger.genesis, block) ?? checkBlockCertificate(ledger.genesis, block, cert)
    if (fault) {
      this.log.warn(
        { from, height: block.header.height, fault: fault.message },
        'refused a forged block from a peer',
      )
      return 'reject'
    }
    if (this.core.kind === 'follower') {
      const verdict = this.core.follower.handleBlock(from, block, cert, this.clock.now())
      this.drain()
      if (verdict.kind === 'rejected') {
        // Certified by a quorum, yet it does not apply here: not the sender's doing.
        this.log.warn(
          { from, height: block.header.height, fault: verdict.fault.message },
          'a certified block does not apply to the state here',
        )
        return 'ignore'
      }
    }
    return 'accept'
  }

  /**
   * A transaction from gossip, before gossipsub forwards it: submitted like any other (rules
   * and signature, once). Forwarded only when this node takes it; its sender is blamed only
   * for what no honest node forwards (a bad signature, a malformed or oversized transaction).
   */
  gossipTx(tx: SignedTx): GossipVerdict {
    if (this.stopped) return 'ignore'
    const outcome = this.submit(tx, 'gossip')
    if (outcome.status === 'pending') return 'accept'
    if (outcome.status === 'rejected' && FORGED_TX_CODES.has(outcome.rejection.code)) return 'reject'
    return 'ignore'
  }

  /** A peer connected or told us its head: pull what we miss from it. */
  handlePeerHead(peer: string, height: number): void {
    if (this.stopped) return
    if (this.core.kind === 'follower') {
      this.core.follower.handleStatus(peer, height, this.clock.now())
      this.drain()
    }
  }

  /**
   * A validator's pending transaction whose envelope these bytes may be, so the channels
   * decode a proposal's transactions (and relays) only when they are new (see `DecodeOptions`).
   */
  knownTx(envelope: Uint8Array): SignedTx | undefined {
    return this.core.kind === 'validator' ? this.core.replica.knownTx(envelope) : undefined
  }

  /**
   * Checks a transaction against the committed state without submitting it: its rejection, or
   * undefined. A publish is checked this way before its image is read (daemon.ts).
   */
  check(tx: SignedTx, origin: 'local' | 'gossip'): Rejection | undefined {
    const head = this.ledger.head
    const checked = apply(this.ledger, tx, {
      height: head.height + 1,
      time: Math.max(this.clock.now(), head.time),
    })
    if (checked.ok) return undefined
    if (origin === 'local') this.recordRejection(tx, checked.error)
    return checked.error
  }

  /**
   * A transaction from a local client or from gossip. It is checked against the committed
   * state first, so a refusal comes back at once with its reason; then a validator puts it in
   * its mempool, and a follower relays it (the caller publishes it by gossip).
   */
  submit(tx: SignedTx, origin: 'local' | 'gossip'): TxOutcome {
    const committedAt = this.ledger.txs.get(tx.idString)
    if (committedAt !== undefined) return { status: 'committed', height: committedAt }
    // A validator's mempool runs the same rules (and the signature check) on admission, so the
    // rules run here only on followers, which have no mempool to ask.
    if (this.core.kind === 'follower') {
      const head = this.ledger.head
      const checked = apply(this.ledger, tx, {
        height: head.height + 1,
        time: Math.max(this.clock.now(), head.time),
      })
      if (!checked.ok) {
        if (origin === 'local') this.recordRejection(tx, checked.error)
        return { status: 'rejected', rejection: checked.error }
      }
    }
    if (this.replicaDriver) {
      const r = this.replicaDriver.submit(tx)
      if (!r.ok) {
        const rejection =
          'code' in r.rejection && 'message' in r.rejection
            ? (r.rejection as Rejection)
            : {
                code: 'tx.malformed' as const,
                message: String((r.rejection as { message?: string }).message ?? 'refused by the mempool'),
              }
        if (origin === 'local') this.recordRejection(tx, rejection)
        return { status: 'rejected', rejection }
      }
    }
    return { status: 'pending' }
  }

  /** Resolves when `tx` commits, or with `pending` after `timeoutMs`. */
  waitForCommit(txId: string, timeoutMs: number): Promise<TxOutcome> {
    const committedAt = this.ledger.txs.get(txId)
    if (committedAt !== undefined) return Promise.resolve({ status: 'committed', height: committedAt })
    if (this.waiters.size >= TX_WAITERS_MAX) return Promise.resolve({ status: 'pending' })
    return new Promise((resolve) => {
      const list = this.waiters.get(txId) ?? []
      const timer = setTimeout(() => {
        const remaining = (this.waiters.get(txId) ?? []).filter((w) => w !== done)
        if (remaining.length > 0) this.waiters.set(txId, remaining)
        else this.waiters.delete(txId)
        resolve({ status: 'pending' })
      }, timeoutMs)
      const done = (outcome: TxOutcome) => {
        clearTimeout(timer)
        resolve(outcome)
      }
      list.push(done)
      this.waiters.set(txId, list)
    })
  }

  private recordRejection(tx: SignedTx, rejection: Rejection): void {
    if (this.rejections.length >= RECENT_REJECTIONS_MAX) this.rejections.shift()
    this.rejections.push({
      tx: tx.idString,
      type: tx.body.type,
      code: rejection.code,
      message: rejection.message,
      at: this.clock.now(),
    })
  }

  // ---- Outputs ----

  /** Drains the core's outputs into the ordered queue and re-arms the timer. */
  private drain(): void {
    if (this.stopped) return
    if (this.replicaDriver) {
      this.replicaDriver.flush()
    } else if (this.core.kind === 'follower') {
      const { follower } = this.core
      for (const out of follower.poll()) {
        switch (out.type) {
          case 'commit':
            this.committed(out.block, out.cert)
            break
          case 'request-sync':
            this.enqueue(async () => {
              void this.pullFromPeer(out.from, out.height, out.count)
            })
            break
          case 'fault':
            this.log.warn(
              { from: out.from, fault: out.fault.message },
              'a peer sent a forged or invalid block',
            )
            break
        }
      }
      this.arm(follower.nextDeadline())
    }
  }

  /**
   * How this node carries out its replica's outputs: each one through the ordered queue, so a
   * `persist` is durable before any later message leaves.
   */
  private host(channels: ValidatorChannels): ReplicaHost {
    return {
      now: () => this.clock.now(),
      send: (to, msg) => this.enqueue(async () => channels.send(to, msg)),
      broadcast: (msg) => this.enqueue(async () => channels.broadcast(msg)),
      persist: (record) => this.enqueue(() => this.store.putMeta(SAFETY_KEY, encodeSafetyRecord(record))),
      commit: (block, cert) => this.committed(block, cert),
      requestSync: (from, height, count) =>
        this.enqueue(async () => {
          void this.pullFromValidator(from, height, count)
        }),
      fault: (from, code, message) => {
        const verdict = channels.faulty.fault(from, code, monotonicClock.now())
        if (verdict.log)
          this.log.warn(
            { from, code, ...(verdict.suppressed ? { suppressed: verdict.suppressed } : {}) },
            message,
          )
        if (verdict.muted)
          this.log.warn(
            { from, code },
            'validator provably faulty: not read for a while (faulty-validators.ts)',
          )
      },
      view: (view, changing, reason) => this.log.info({ view, changing, reason }, 'view'),
      setTimer: (deadline) => this.arm(deadline),
    }
  }

  private enqueue(task: () => Promise<void>): void {
    this.outputs.push(task)
    if (!this.draining) void this.runOutputs()
  }

  private async runOutputs(): Promise<void> {
    this.draining = true
    try {
      while (this.outputs.length > 0) {
        const task = this.outputs.shift()!
        try {
          await task()
        } catch (cause) {
          this.log.error({ err: (cause as Error).message }, 'carrying out a consensus output failed')
        }
      }
    } finally {
      this.draining = false
    }
  }

  /** The core committed a block: the agent hears of it now, the store writes it in turn. */
  private committed(block: Block, cert: Certificate): void {
    this.enqueue(() => this.persistCommit(block, cert))
    this.emit('certified', block)
  }

  private async persistCommit(block: Block, cert: Certificate): Promise<void> {
    if (block.header.height <= this.store.head.height) return
    const r = await this.store.appendVerified(block, cert)
    if (!r.ok) {
      // The core verified this block against the same rules; a refusal here is our bug.
      this.log.error(
        { height: block.header.height, fault: r.error.message },
        'the store refused a committed block',
      )
      return
    }
    for (const tx of block.txs) {
      const list = this.waiters.get(tx.idString)
      if (!list) continue
      this.waiters.delete(tx.idString)
      for (const w of list) w({ status: 'committed', height: block.header.height })
    }
    this.emit('committed', block, cert)
  }

  private async pullFromValidator(from: number, height: number, count: number): Promise<void> {
    if (this.core.kind !== 'validator') return
    const blocks = await this.syncFrom(this.core.channels.peer(from).toString(), height, count)
    if (!blocks || this.stopped) return
    this.replicaDriver?.handleSyncResponse(from, blocks)
  }

  private async pullFromPeer(peer: string, height: number, count: number): Promise<void> {
    if (this.core.kind !== 'follower') return
    const blocks = await this.syncFrom(peer, height, count)
    if (blocks === null || this.stopped) return
    this.core.follower.handleSyncResponse(peer, blocks, this.clock.now())
    this.drain()
  }

  private arm(deadline: number | undefined): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (deadline === undefined || this.stopped) return
    // A deadline may lie beyond one timer's reach (genesis sets the block intervals): clamped,
    // the timer wakes early, and the next tick arms again for what is left.
    this.timer = setTimeout(() => this.tick(), clampTimerDelay(deadline - this.clock.now()))
  }

  private tick(): void {
    if (this.stopped) return
    if (this.replicaDriver) {
      this.replicaDriver.tick()
      return
    }
    if (this.core.kind === 'follower') this.core.follower.handleTick(this.clock.now())
    this.drain()
  }

  /** Stops timers and waits until every queued output (a persist, a commit) is carried out. */
  async stop(): Promise<void> {
    this.stopped = true
    this.replicaDriver?.stop()
    if (this.timer) clearTimeout(this.timer)
    while (this.draining || this.outputs.length > 0) await new Promise((r) => setTimeout(r, 5))
    for (const [, list] of this.waiters) for (const w of list) w({ status: 'pending' })
    this.waiters.clear()
  }
}

export function toPeerId(peer: string): PeerId {
  return peerIdFromString(peer)
}
