import { assert } from '../../src/codec/assert.js'
import { Follower } from '../../src/consensus/follower.js'
import type { ConsensusLimits } from '../../src/consensus/limits.js'
import { envelopeSignatureKey, signatureKey } from '../../src/consensus/mempool.js'
import {
  type CertifiedBlock,
  DEFAULT_CODEC_LIMITS,
  decode,
  encode,
  type Msg,
} from '../../src/consensus/messages.js'
import { Replica, type ReplicaOutput, type SubmitResult } from '../../src/consensus/replica.js'
import type { SafetyRecord } from '../../src/consensus/safety.js'
import { serveSync } from '../../src/consensus/sync.js'
import type { Block } from '../../src/ledger/block.js'
import type { Certificate } from '../../src/ledger/certificate.js'
import type { DevChain } from '../../src/ledger/dev-chain.js'
import { LedgerState } from '../../src/ledger/state.js'
import type { SignedTx } from '../../src/ledger/tx.js'
import { applyBlock } from '../../src/ledger/verify-block.js'
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

export interface CommitteeClock {
  now(): number
  at(time: number, run: () => void): void
}

export interface CommitteeHooks {
  /** A validator committed a block (the first commit of a height is when it is final). */
  onValidatorCommit(validator: number, block: Block, cert: Certificate): void
  /** The shared follower verified and applied a block. */
  onFollowerCommit(block: Block, cert: Certificate): void
  /** One-way latency between validators `a` and `b`, or from validator `a` to the follower (b = -1). */
  latency(a: number, b: number): number
}

interface Validator {
  readonly index: number
  replica: Replica | null
  readonly blocks: CertifiedBlock[]
  safety: SafetyRecord | undefined
  tickAt: number | null
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
    for (let i = 0; i < chain.validators.length; i++) {
      this.validators.push({
        index: i,
        replica: null,
        blocks: [...preloaded],
        safety: undefined,
        tickAt: null,
      })
    }
    for (const b of preloaded) this.committedHash[b.block.header.height] = b.block.hashString
    this.follower = new Follower<number>({ state: replay(chain, preloaded), now: clock.now() })
  }

  get head(): number {
    return this.committedHash.length - 1
  }

  isUp(v: number): boolean {
    return this.validators[v]?.replica != null
  }

  /** Starts (or restarts) validator `v` from its store. */
  start(v: number): void {
    const node = this.validators[v]!
    assert(node.replica === null, 'a running validator is not started again')
    const last = node.blocks.at(-1)
    node.replica = new Replica({
      index: v,
      secretKey: this.chain.validators[v]!.secretKey,
      state: replay(this.chain, node.blocks),
      headCert: last ? last.cert : null,
      ...(node.safety ? { safety: node.safety } : {}),
      now: this.clock.now(),
      limits: this.limits,
      // Devices gossip their transactions to every validator (the tx topic), as nodes do.
      relayTxs: false,
    })
    node.tickAt = null
    this.afterInput(node)
  }

  crash(v: number): void {
    const node = this.validators[v]!
    node.replica = null
    node.tickAt = null
  }

  /** A transaction reached validator `v` (from gossip or a client). */
  submit(v: number, tx: SignedTx): SubmitResult | undefined {
    const node = this.validators[v]!
    if (!node.replica) return undefined
    if (this.submitted.size >= SUBMITTED_TX_MEMO_MAX) this.submitted.clear()
    this.submitted.set(signatureKey(tx.signature), tx)
    const result = node.replica.submit(tx, this.clock.now())
    this.afterInput(node)
    return result
  }

  private deliver(to: number, from: number, bytes: Uint8Array): void {
    const node = this.validators[to]!
    const replica = node.replica
    if (!replica) return
    const decoded = decode(bytes, DEFAULT_CODEC_LIMITS, {
      knownTx: (envelope) => replica.knownTx(envelope) ?? this.submittedTx(envelope),
    })
    if (!decoded.ok) {
      this.violations.push(`validator ${from} sent undecodable bytes: ${decoded.error.message}`)
      return
    }
    const msg = decoded.value
    if (msg.type === 'sync-request') {
      const response = serveSync(msg, (h) => node.blocks[h - 1])
      this.send(to, from, encode(response))
      return
    }
    replica.handleMessage(from, msg, this.clock.now())
    this.afterInput(node)
  }

  private submittedTx(envelope: Uint8Array): SignedTx | undefined {
    const key = envelopeSignatureKey(envelope)
    return key === undefined ? undefined : this.submitted.get(key)
  }

  private send(from: number, to: number, bytes: Uint8Array): void {
    this.clock.at(this.clock.now() + this.hooks.latency(from, to), () => this.deliver(to, from, bytes))
  }

  private transmit(from: number, to: number | 'all', msg: Msg): void {
    const bytes = encode(msg)
    if (to !== 'all') {
      this.send(from, to, bytes)
      return
    }
    for (let v = 0; v < this.validators.length; v++) if (v !== from) this.send(from, v, bytes)
  }

  private tick(node: Validator, at: number): void {
    if (node.tickAt !== at || !node.replica) return
    node.tickAt = null
    node.replica.handleTick(this.clock.now())
    this.afterInput(node)
  }

  private afterInput(node: Validator): void {
    const replica = node.replica
    if (!replica) return
    let committed = false
    for (const out of replica.poll()) {
      this.carryOut(node, out)
      if (out.type === 'commit') committed = true
    }
    // O(mempool) per check: after each commit, not after each of 10,000 submissions.
    if (committed) replica.mempool.checkInvariants()
    const deadline = replica.nextDeadline()
    if (deadline !== undefined) {
      const at = Math.max(deadline, this.clock.now())
      if (node.tickAt === null || at < node.tickAt) {
        node.tickAt = at
        this.clock.at(at, () => this.tick(node, at))
      }
    }
  }

  private carryOut(node: Validator, out: ReplicaOutput): void {
    switch (out.type) {
      case 'persist':
        node.safety = out.record
        return
      case 'send':
        this.transmit(node.index, out.to, out.msg)
        return
      case 'broadcast':
        this.transmit(node.index, 'all', out.msg)
        return
      case 'commit': {
        const h = out.block.header.height
        node.blocks.push({ block: out.block, cert: out.cert })
        assert(node.blocks.length === h, 'the store holds every height once')
        const known = this.committedHash[h]
        if (known === undefined) {
          assert(h === this.committedHash.length, 'heights are committed in order')
          this.committedHash[h] = out.block.hashString
          this.firstCommitAt[h] = this.clock.now()
        } else if (known !== out.block.hashString) {
          this.violations.push(`fork at height ${h}: validator ${node.index} committed another block`)
        }
        this.hooks.onValidatorCommit(node.index, out.block, out.cert)
        // Validators publish committed blocks on the block topic; the follower hears it.
        const { block, cert } = out
        const from = node.index
        this.clock.at(this.clock.now() + this.hooks.latency(from, -1), () =>
          this.followerBlock(from, block, cert),
        )
        return
      }
      case 'request-sync':
        this.transmit(node.index, out.from, { type: 'sync-request', height: out.height, count: out.count })
        return
      case 'view':
        if (out.changing) this.viewChanges++
        return
      case 'fault':
        this.violations.push(
          `validator ${node.index} blamed validator ${out.from}: ${out.code} ${out.message}`,
        )
        return
      case 'checkpoint':
        return
    }
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
          const response = serveSync(
            { type: 'sync-request', height: out.height, count: out.count },
            (h) => source.blocks[h - 1],
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

/** The state after `blocks`, applied without signature checks (they were checked when stored). */
function replay(chain: DevChain, blocks: readonly CertifiedBlock[]): LedgerState {
  const state = new LedgerState(chain.genesis)
  for (const { block } of blocks) {
    const next = applyBlock(state, block, { verifySignatures: false })
    assert(next.ok, 'a stored block applies to the stored chain')
    next.value.mergeIntoParent()
  }
  return state
}
