import { assert } from '../../src/codec/assert.js'
import { Follower } from '../../src/consensus/follower.js'
import type { ConsensusLimits } from '../../src/consensus/limits.js'
import { MemoryReplicaStore, replayBlocks } from '../../src/consensus/memory-store.js'
import { envelopeSignatureKey, signatureKey } from '../../src/consensus/mempool.js'
import {
  type CertifiedBlock,
  DEFAULT_CODEC_LIMITS,
  decode,
  encode,
  type Msg,
} from '../../src/consensus/messages.js'
import type { SubmitResult } from '../../src/consensus/replica.js'
import { ReplicaDriver, type ReplicaHost } from '../../src/consensus/replica-driver.js'
import type { SafetyRecord } from '../../src/consensus/safety.js'
import { serveSync } from '../../src/consensus/sync.js'
import type { Block } from '../../src/ledger/block.js'
import type { Certificate } from '../../src/ledger/certificate.js'
import type { DevChain } from '../../src/ledger/dev-chain.js'
import type { SignedTx } from '../../src/ledger/tx.js'
import { type VirtualClock, VirtualTimer } from '../virtual-timer.js'
import { SUBMITTED_TX_MEMO_MAX } from './constants.js'

/**
 * The validator committee of a fleet run and the shared follower. Each validator runs the
 * real `Replica`, driven as `simulations/consensus/cluster.ts` drives it (and as the node
 * does): messages are encoded, carried with the link's latency, decoded with `knownTx`, fed
 * in; outputs are carried out in order (persist before send); one timer for the next
 * deadline. A crashed validator drops everything until it restarts from its store.
 *
 * The shared follower is the real `Follower` core: it verifies each committed block once
 * (certificate against the genesis validators, every transaction under the rules, every
 * signature) and applies it. Every device would compute exactly the same verdict on the same
 * bytes, so the fleet driver hands its result to the devices as gossip reaches them instead
 * of running 10,000 identical verifications.
 *
 * For the same reason a validator decoding a block reuses a transaction any validator was
 * given (the same bytes decode to the same transaction), as a backup reuses its own mempool's:
 * decoding the transactions its full mempool had refused was a tenth of a 15,000-device run.
 */

/** The fleet's virtual clock and event queue, as the committee sees them. */
export type CommitteeClock = VirtualClock

export interface CommitteeHooks {
  /** A validator committed a block (the first commit of a height is when it is final). */
  onValidatorCommit(validator: number, block: Block, cert: Certificate): void
  /** The shared follower verified and applied a block. */
  onFollowerCommit(block: Block, cert: Certificate): void
  /** One-way latency between validators `a` and `b`, or from validator `a` to the follower (b = -1). */
  latency(a: number, b: number): number
}

/** One validator: its store survives a crash; its driver exists while it runs. */
class Validator implements ReplicaHost {
  driver: ReplicaDriver | null = null
  readonly store: MemoryReplicaStore
  readonly timer: VirtualTimer

  constructor(
    readonly index: number,
    private readonly committee: Committee,
    preloaded: readonly CertifiedBlock[],
    clock: CommitteeClock,
  ) {
    this.store = new MemoryReplicaStore(preloaded)
    this.timer = new VirtualTimer(clock, () => this.driver?.tick())
  }

  now(): number {
    return this.committee.clockNow()
  }

  setTimer(deadline: number | undefined): void {
    if (deadline !== undefined) this.timer.arm(deadline)
  }

  persist(record: SafetyRecord): void {
    this.store.safety = record
  }

  send(to: number, msg: Msg): void {
    this.committee.transmit(this.index, to, msg)
  }

  broadcast(msg: Msg): void {
    this.committee.transmit(this.index, 'all', msg)
  }

  commit(block: Block, cert: Certificate): void {
    this.store.append(block, cert)
    this.committee.onCommit(this.index, block, cert)
  }

  requestSync(from: number, height: number, count: number): void {
    this.committee.transmit(this.index, from, { type: 'sync-request', height, count })
  }

  view(_view: number, changing: boolean): void {
    if (changing) this.committee.viewChanges++
  }

  fault(from: number, code: string, message: string): void {
    this.committee.violations.push(`validator ${this.index} blamed validator ${from}: ${code} ${message}`)
  }
}

export class Committee {
  readonly validators: Validator[] = []
  readonly follower: Follower<number>
  /** Time each height was first committed by any validator. */
  readonly firstCommitAt: number[] = []
  readonly violations: string[] = []
  viewChanges = 0
  private readonly committedHash: string[] = []
  /** Every transaction submitted to a validator, by signature (SUBMITTED_TX_MEMO_MAX at most). */
  private readonly submitted = new Map<string, SignedTx>()

  constructor(
    readonly chain: DevChain,
    /** Blocks every node holds at the start (the fleet's registration history), in order. */
    readonly preloaded: readonly CertifiedBlock[],
    readonly limits: Partial<ConsensusLimits>,
    private readonly clock: CommitteeClock,
    private readonly hooks: CommitteeHooks,
  ) {
    for (let i = 0; i < chain.validators.length; i++)
      this.validators.push(new Validator(i, this, preloaded, clock))
    for (const b of preloaded) this.committedHash[b.block.header.height] = b.block.hashString
    this.follower = new Follower<number>({ state: replayBlocks(chain.genesis, preloaded), now: clock.now() })
  }

  get head(): number {
    return this.committedHash.length - 1
  }

  clockNow(): number {
    return this.clock.now()
  }

  isUp(v: number): boolean {
    return this.validators[v]?.driver != null
  }

  /** Starts (or restarts) validator `v` from its store. */
  start(v: number): void {
    const node = this.validators[v]!
    assert(node.driver === null, 'a running validator is not started again')
    const replica = node.store.startReplica({
      genesis: this.chain.genesis,
      index: v,
      secretKey: this.chain.validators[v]!.secretKey,
      now: this.clock.now(),
      limits: this.limits,
      // Devices gossip their transactions to every validator (the tx topic), as nodes do.
      relayTxs: false,
    })
    // O(mempool) per check: after each commit, not after each of 10,000 submissions.
    node.driver = new ReplicaDriver(replica, node, { checkMempool: 'after-commit' })
    node.timer.cancel()
    node.driver.flush()
  }

  crash(v: number): void {
    const node = this.validators[v]!
    node.driver = null
    node.timer.cancel()
  }

  /** A transaction reached validator `v` (from gossip or a client). */
  submit(v: number, tx: SignedTx): SubmitResult | undefined {
    const node = this.validators[v]!
    if (!node.driver) return undefined
    if (this.submitted.size >= SUBMITTED_TX_MEMO_MAX) this.submitted.clear()
    this.submitted.set(signatureKey(tx.signature), tx)
    return node.driver.submit(tx)
  }

  private deliver(to: number, from: number, bytes: Uint8Array): void {
    const node = this.validators[to]!
    const driver = node.driver
    if (!driver) return
    const replica = driver.replica
    const decoded = decode(bytes, DEFAULT_CODEC_LIMITS, {
      knownTx: (envelope) => replica.knownTx(envelope) ?? this.submittedTx(envelope),
    })
    if (!decoded.ok) {
      this.violations.push(`validator ${from} sent undecodable bytes: ${decoded.error.message}`)
      return
    }
    const msg = decoded.value
    if (msg.type === 'sync-request') {
      const response = serveSync(msg, (h) => node.store.read(h))
      this.send(to, from, encode(response))
      return
    }
    driver.handleMessage(from, msg)
  }

  private submittedTx(envelope: Uint8Array): SignedTx | undefined {
    const key = envelopeSignatureKey(envelope)
    return key === undefined ? undefined : this.submitted.get(key)
  }

  private send(from: number, to: number, bytes: Uint8Array): void {
    this.clock.at(this.clock.now() + this.hooks.latency(from, to), () => this.deliver(to, from, bytes))
  }

  /** Validator `from` sends `msg` to validator `to`, or to every other one. */
  transmit(from: number, to: number | 'all', msg: Msg): void {
    const bytes = encode(msg)
    if (to !== 'all') {
      this.send(from, to, bytes)
      return
    }
    for (let v = 0; v < this.validators.length; v++) if (v !== from) this.send(from, v, bytes)
  }

  /** Validator `index` committed a block (already in its store). */
  onCommit(index: number, block: Block, cert: Certificate): void {
    const h = block.header.height
    const known = this.committedHash[h]
    if (known === undefined) {
      assert(h === this.committedHash.length, 'heights are committed in order')
      this.committedHash[h] = block.hashString
      this.firstCommitAt[h] = this.clock.now()
    } else if (known !== block.hashString) {
      this.violations.push(`fork at height ${h}: validator ${index} committed another block`)
    }
    this.hooks.onValidatorCommit(index, block, cert)
    // Validators publish committed blocks on the block topic; the follower hears it.
    this.clock.at(this.clock.now() + this.hooks.latency(index, -1), () =>
      this.followerBlock(index, block, cert),
    )
  }

  private followerBlock(from: number, block: Block, cert: Certificate): void {
    const verdict = this.follower.handleBlock(from, block, cert, this.clock.now())
    if (verdict.kind === 'rejected')
      this.violations.push(`the follower rejected block ${block.header.height}: ${verdict.fault.message}`)
    this.drainFollower()
  }

  private drainFollower(): void {
    for (const out of this.follower.poll()) {
      if (out.type === 'commit') {
        this.hooks.onFollowerCommit(out.block, out.cert)
      } else if (out.type === 'request-sync') {
        // Answered from the validator's store after a round trip, as the sync protocol would.
        const source = this.validators[out.from]!
        const rtt = 2 * this.hooks.latency(out.from, -1)
        this.clock.at(this.clock.now() + rtt, () => {
          const response = serveSync({ type: 'sync-request', height: out.height, count: out.count }, (h) =>
            source.store.read(h),
          )
          this.follower.handleSyncResponse(out.from, response.blocks, this.clock.now())
          this.drainFollower()
        })
      } else if (out.type === 'fault') {
        this.violations.push(`the follower blamed validator ${out.from}: ${out.fault.message}`)
      }
    }
  }
}
