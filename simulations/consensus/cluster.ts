import { assert } from '../../src/codec/assert.js'
import { Follower, type FollowerLimits } from '../../src/consensus/follower.js'
import type { ConsensusLimits } from '../../src/consensus/limits.js'
import { MemoryReplicaStore } from '../../src/consensus/memory-store.js'
import { DEFAULT_CODEC_LIMITS, decode, encode, type Msg } from '../../src/consensus/messages.js'
import type { Replica, ReplicaOutput } from '../../src/consensus/replica.js'
import { type OutputVerdict, ReplicaDriver, type ReplicaHost } from '../../src/consensus/replica-driver.js'
import type { SafetyRecord } from '../../src/consensus/safety.js'
import { serveSync } from '../../src/consensus/sync.js'
import type { Block } from '../../src/ledger/block.js'
import type { Certificate } from '../../src/ledger/certificate.js'
import type { DevChain } from '../../src/ledger/dev-chain.js'
import { LedgerState } from '../../src/ledger/state.js'
import type { SignedTx } from '../../src/ledger/tx.js'
import type { Prng } from '../../src/prng.js'
import { Simulator } from '../engine.js'
import { type LinkModel, Network } from '../network.js'
import { VirtualTimer } from '../virtual-timer.js'
import type { Behaviour, ByzantineContext } from './byzantine.js'
import { Checker } from './checker.js'

/**
 * A committee of validators and some followers on a virtual network, driven exactly as a
 * node would drive the cores: decode what arrives, feed it in, carry out the outputs in
 * order (persist before send), arm one timer for the next deadline. Each validator has a
 * store (committed blocks and its safety record) that survives a crash; a restart rebuilds
 * the replica from it. Every output passes the checker.
 */

export interface ClusterConfig {
  readonly chain: DevChain
  readonly prng: Prng
  readonly limits: Partial<ConsensusLimits>
  readonly followerLimits?: Partial<FollowerLimits>
  readonly followers: number
  /** Validators that misbehave, by index, with what they do. */
  readonly byzantine: ReadonlyMap<number, Behaviour>
  /** Validator indices that run as a Twins pair (two honest copies sharing one key). */
  readonly twins: ReadonlySet<number>
  readonly link?: (from: number, to: number) => LinkModel
  readonly eventsMax: number
  readonly queueMax: number
  readonly trace?: (line: string) => void
  /** Scenario hook: sees each output before it is carried out; may drop it or crash the node after it. */
  readonly intercept?: (node: ValidatorNode, out: ReplicaOutput) => 'drop' | 'crash' | undefined
}

export class ValidatorNode implements ReplicaHost {
  driver: ReplicaDriver | null = null
  readonly store = new MemoryReplicaStore()
  /** When set, the next batch of outputs stops after this many and the node crashes. */
  crashAfterOutputs: number | null = null
  private readonly timer: VirtualTimer
  readonly ctx: ByzantineContext | null

  constructor(
    readonly cluster: Cluster,
    readonly address: number,
    readonly index: number,
    /** Counted among the f faulty (a byzantine behaviour or one of a Twins pair). */
    readonly faulty: boolean,
    readonly behaviour: Behaviour | undefined,
    /** This node's clock runs this far ahead of virtual time (Twins diverge this way). */
    readonly skewMs: number,
  ) {
    const key = cluster.chain.validators[index]!
    this.timer = new VirtualTimer(
      { now: () => cluster.sim.now, at: (time, run) => cluster.sim.at(time, run) },
      () => this.tick(),
    )
    this.ctx = behaviour
      ? {
          index,
          secretKey: key.secretKey,
          genesis: cluster.chain.genesis,
          prng: cluster.prng.child(`byzantine/${address}`),
          timeoutMs: cluster.limits.viewChangeTimeoutBaseMs ?? 1000,
          send: (to, bytes, extra) => this.sendBytes(to, bytes, extra ?? 0, undefined),
          ledger: () => this.replica?.ledger,
        }
      : null
  }

  get replica(): Replica | null {
    return this.driver?.replica ?? null
  }

  get up(): boolean {
    return this.driver !== null
  }

  now(): number {
    return this.cluster.sim.now + this.skewMs
  }

  /** Starts (or restarts) the replica from what the store holds. */
  start(): void {
    assert(this.driver === null, 'a running node is not started again')
    const replica = this.store.startReplica({
      genesis: this.cluster.chain.genesis,
      index: this.index,
      secretKey: this.cluster.chain.validators[this.index]!.secretKey,
      now: this.now(),
      limits: this.cluster.limits,
    })
    this.driver = new ReplicaDriver(replica, this, { checkMempool: 'each-batch' })
    this.cluster.checker.onStart(this.address, replica.head)
    this.timer.cancel()
    this.driver.flush()
  }

  crash(): void {
    this.driver = null
    this.timer.cancel()
    this.cluster.trace?.(`${this.cluster.sim.now} node ${this.address} crashes`)
  }

  submit(tx: SignedTx): void {
    this.driver?.submit(tx)
  }

  deliver(fromAddress: number, bytes: Uint8Array): void {
    const driver = this.driver
    if (!driver) return
    const decoded = decode(bytes, DEFAULT_CODEC_LIMITS, { knownTx: driver.replica.knownTx })
    const sender = this.cluster.addressInfo(fromAddress)
    if (!decoded.ok) {
      if (!sender.faulty)
        this.cluster.checker.violation(
          `an honest node ${fromAddress} sent undecodable bytes: ${decoded.error.message}`,
        )
      return
    }
    const msg = decoded.value
    if (msg.type === 'sync-request') {
      const response = serveSync(msg, (h) => this.store.read(h))
      this.cluster.sendFrom(this.address, fromAddress, encode(response))
      return
    }
    if (sender.kind !== 'validator' || sender.index === this.index) return
    if (this.behaviour?.incoming && this.ctx) this.behaviour.incoming(this.ctx, sender.index, msg)
    driver.handleMessage(sender.index, msg)
  }

  private tick(): void {
    const driver = this.driver
    if (!driver) return
    const now = this.now()
    driver.tick()
    const next = this.replica?.nextDeadline()
    if (next !== undefined && next <= now) {
      this.cluster.checker.violation(
        `node ${this.address}: after a tick at ${now} the next deadline ${next} is not in the future: ${JSON.stringify(this.replica?.deadlines())}`,
      )
    }
  }

  // ---- ReplicaHost: how this node carries out its replica's outputs ----

  setTimer(deadline: number | undefined): void {
    if (deadline !== undefined) this.timer.arm(deadline - this.skewMs)
  }

  screen(out: ReplicaOutput): OutputVerdict {
    return this.cluster.intercept?.(this, out)
  }

  takeCrashAfterOutputs(): number | null {
    const k = this.crashAfterOutputs
    this.crashAfterOutputs = null
    return k
  }

  persist(record: SafetyRecord): void {
    this.store.safety = record
  }

  send(to: number, msg: Msg): void {
    this.transmit(to, msg)
  }

  broadcast(msg: Msg): void {
    this.transmit('all', msg)
  }

  commit(block: Block, cert: Certificate): void {
    this.store.append(block, cert)
    if (!this.faulty) this.cluster.checker.onCommit(this.address, true, block, cert, this.cluster.sim.now)
    this.cluster.onValidatorCommit(this, block.header.height)
    const announcement = encode({ type: 'block', block, cert })
    for (const f of this.cluster.followers) {
      if (this.behaviour && this.ctx)
        this.behaviour.outgoing(this.ctx, f.address, { type: 'block', block, cert })
      else this.cluster.sendFrom(this.address, f.address, announcement)
    }
  }

  requestSync(from: number, height: number, count: number): void {
    for (const to of this.cluster.addressesOf(from)) {
      this.cluster.sendFrom(this.address, to, encode({ type: 'sync-request', height, count }))
    }
  }

  view(view: number, changing: boolean, reason: string): void {
    this.cluster.viewEvents++
    this.cluster.trace?.(
      `${this.cluster.sim.now} node ${this.address} ${changing ? 'moves to' : 'enters'} view ${view}: ${reason}`,
    )
  }

  fault(from: number, code: string, message: string): void {
    const blamed = this.cluster.chain.validators[from] ? from : -1
    if (!this.faulty && blamed >= 0 && !this.cluster.isFaultyIndex(blamed)) {
      this.cluster.checker.violation(
        `honest validator ${blamed} blamed by node ${this.address}: ${code} ${message}`,
      )
    }
  }

  private transmit(to: number | 'all', msg: Msg): void {
    if (this.behaviour && this.ctx) this.behaviour.outgoing(this.ctx, to, msg)
    else this.sendBytes(to, encode(msg), 0, msg.type)
  }

  /** `to` is a validator index (or every other validator); a follower address when above. */
  private sendBytes(
    to: number | 'all',
    bytes: Uint8Array,
    extraDelayMs: number,
    kind: string | undefined,
  ): void {
    if (to === 'all') {
      for (const v of this.cluster.validators) {
        if (v.index !== this.index) this.cluster.sendFrom(this.address, v.address, bytes, extraDelayMs, kind)
      }
      return
    }
    const info = this.cluster.addressInfo(to)
    if (info.kind === 'follower' && to >= this.cluster.chain.validators.length) {
      this.cluster.sendFrom(this.address, to, bytes, extraDelayMs, kind)
      return
    }
    for (const address of this.cluster.addressesOf(to)) {
      this.cluster.sendFrom(this.address, address, bytes, extraDelayMs, kind)
    }
  }
}

export class FollowerNode {
  readonly follower: Follower<number>
  private tickAt: number | null = null

  constructor(
    readonly cluster: Cluster,
    readonly address: number,
  ) {
    this.follower = new Follower<number>({
      state: new LedgerState(cluster.chain.genesis),
      now: cluster.sim.now,
      ...(cluster.followerLimits ? { limits: cluster.followerLimits } : {}),
    })
    cluster.checker.onStart(address, 0)
  }

  deliver(fromAddress: number, bytes: Uint8Array): void {
    const decoded = decode(bytes)
    const sender = this.cluster.addressInfo(fromAddress)
    if (!decoded.ok) {
      if (!sender.faulty)
        this.cluster.checker.violation(`an honest node ${fromAddress} sent a follower undecodable bytes`)
      return
    }
    const msg = decoded.value
    const now = this.cluster.sim.now
    if (msg.type === 'block') {
      const verdict = this.follower.handleBlock(fromAddress, msg.block, msg.cert, now)
      if (verdict.kind === 'rejected' && !sender.faulty) {
        this.cluster.checker.violation(
          `the follower rejected block ${msg.block.header.height} from honest node ${fromAddress}: ${verdict.fault.message}`,
        )
      }
    } else if (msg.type === 'sync-response') {
      this.follower.handleSyncResponse(fromAddress, msg.blocks, now)
    } else if (msg.type === 'status') {
      this.follower.handleStatus(fromAddress, msg.height, now)
    }
    this.afterInput()
  }

  private tick(at: number): void {
    if (this.tickAt !== at) return
    this.tickAt = null
    this.follower.handleTick(this.cluster.sim.now)
    this.afterInput()
  }

  private afterInput(): void {
    for (const out of this.follower.poll()) {
      if (out.type === 'commit') {
        this.cluster.checker.onCommit(this.address, false, out.block, out.cert, this.cluster.sim.now)
      } else if (out.type === 'request-sync') {
        this.cluster.sendFrom(
          this.address,
          out.from,
          encode({ type: 'sync-request', height: out.height, count: out.count }),
        )
      } else if (out.type === 'fault') {
        const sender = this.cluster.addressInfo(out.from)
        if (!sender.faulty)
          this.cluster.checker.violation(`the follower blamed honest node ${out.from}: ${out.fault.message}`)
      }
    }
    const deadline = this.follower.nextDeadline()
    if (deadline !== undefined && (this.tickAt === null || deadline < this.tickAt)) {
      const at = Math.max(deadline, this.cluster.sim.now)
      this.tickAt = at
      this.cluster.sim.at(at, () => this.tick(at))
    }
  }
}

type AddressInfo =
  | { readonly kind: 'validator'; readonly index: number; readonly faulty: boolean }
  | { readonly kind: 'follower'; readonly faulty: false }

export class Cluster {
  readonly sim: Simulator
  readonly net: Network
  readonly checker: Checker
  readonly chain: DevChain
  readonly prng: Prng
  readonly limits: Partial<ConsensusLimits>
  readonly followerLimits: Partial<FollowerLimits> | undefined
  readonly validators: ValidatorNode[] = []
  readonly followers: FollowerNode[] = []
  readonly trace: ((line: string) => void) | undefined
  intercept: ((node: ValidatorNode, out: ReplicaOutput) => 'drop' | 'crash' | undefined) | undefined
  viewEvents = 0
  private readonly byIndex = new Map<number, ValidatorNode[]>()
  private readonly nodeAt: (ValidatorNode | undefined)[] = []
  private readonly followerAt: (FollowerNode | undefined)[] = []
  private readonly infos: AddressInfo[] = []
  private readonly faultyIndices = new Set<number>()
  private readonly commitListeners: ((node: ValidatorNode, height: number) => void)[] = []

  constructor(config: ClusterConfig) {
    this.chain = config.chain
    this.prng = config.prng
    this.limits = config.limits
    this.followerLimits = config.followerLimits
    this.trace = config.trace
    this.intercept = config.intercept
    // Virtual time starts at genesis: block times and node clocks are epoch milliseconds.
    this.sim = new Simulator(config.chain.genesis.time, config.eventsMax, config.queueMax)
    this.net = new Network(this.sim, config.prng.child('network'))
    this.checker = new Checker(config.chain.genesis)
    const n = config.chain.validators.length
    for (const i of config.byzantine.keys()) this.faultyIndices.add(i)
    for (const i of config.twins) this.faultyIndices.add(i)
    for (let i = 0; i < n; i++) this.addValidator(i, config.byzantine.get(i), 0)
    // The second of each Twins pair: same key, its clock a few milliseconds ahead, so the
    // two build different blocks when they lead.
    for (const i of config.twins) this.addValidator(i, undefined, 1 + config.prng.int(5))
    for (let k = 0; k < config.followers; k++) {
      const address = this.infos.length
      this.infos.push({ kind: 'follower', faulty: false })
      const follower = new FollowerNode(this, address)
      this.followers.push(follower)
      this.followerAt[address] = follower
    }
    if (config.link) {
      const total = this.infos.length
      for (let a = 0; a < total; a++)
        for (let b = 0; b < total; b++) if (a !== b) this.net.setLink(a, b, config.link(a, b))
    }
  }

  private addValidator(index: number, behaviour: Behaviour | undefined, skewMs: number): void {
    const address = this.infos.length
    const faulty = this.faultyIndices.has(index)
    this.infos.push({ kind: 'validator', index, faulty })
    const node = new ValidatorNode(this, address, index, faulty, behaviour, skewMs)
    this.validators.push(node)
    this.nodeAt[address] = node
    const list = this.byIndex.get(index) ?? []
    list.push(node)
    this.byIndex.set(index, list)
  }

  /** Starts every validator (call once the network and faults are set up). */
  start(): void {
    for (const v of this.validators) v.start()
  }

  get addressCount(): number {
    return this.infos.length
  }

  addressInfo(address: number): AddressInfo {
    const info = this.infos[address]
    assert(info !== undefined, 'an address of this cluster')
    return info
  }

  isFaultyIndex(index: number): boolean {
    return this.faultyIndices.has(index)
  }

  /** The network addresses of a validator index (two for a Twins pair). */
  addressesOf(index: number): number[] {
    return (this.byIndex.get(index) ?? []).map((v) => v.address)
  }

  nodesOf(index: number): ValidatorNode[] {
    return this.byIndex.get(index) ?? []
  }

  /** Honest validator nodes (not byzantine, not a twin). */
  honestValidators(): ValidatorNode[] {
    return this.validators.filter((v) => !v.faulty)
  }

  /**
   * Drops protocol messages of some kinds to some receivers for a while (ByzzFuzz's
   * round-targeted network faults): the runs where a block commits at a few replicas only.
   */
  readonly dropRules: { from: number; until: number; kinds: ReadonlySet<string>; to: ReadonlySet<number> }[] =
    []

  sendFrom(from: number, to: number, bytes: Uint8Array, extraDelayMs = 0, kind?: string): void {
    if (kind !== undefined) {
      const now = this.sim.now
      for (const r of this.dropRules) {
        if (now >= r.from && now < r.until && r.kinds.has(kind) && r.to.has(to)) return
      }
    }
    this.net.send(
      from,
      to,
      () => {
        const info = this.infos[to]!
        if (info.kind === 'validator') this.nodeAt[to]!.deliver(from, bytes)
        else this.followerAt[to]!.deliver(from, bytes)
      },
      extraDelayMs,
    )
  }

  /**
   * The invariants cheap enough to check after every event: each running core agrees with
   * its store about its head (committed heights never go backwards, not even across a
   * restart), and its own assertions hold.
   */
  checkAfterEvent(): void {
    for (const v of this.validators) {
      const r = v.replica
      if (!r) continue
      if (r.head !== v.store.blocks.length) {
        this.checker.violation(`node ${v.address}: head ${r.head} but ${v.store.blocks.length} blocks stored`)
      }
      const recorded = this.checker.headOf(v.address)
      if (!v.faulty && recorded !== undefined && r.head < recorded) {
        this.checker.violation(`node ${v.address}: head went back from ${recorded} to ${r.head}`)
      }
    }
    for (const f of this.followers) {
      const recorded = this.checker.headOf(f.address)
      if (recorded !== undefined && f.follower.head !== recorded) {
        this.checker.violation(`follower ${f.address}: head ${f.follower.head}, last commit ${recorded}`)
      }
    }
  }

  onCommit(listener: (node: ValidatorNode, height: number) => void): void {
    this.commitListeners.push(listener)
  }

  onValidatorCommit(node: ValidatorNode, height: number): void {
    for (const l of this.commitListeners) l(node, height)
  }
}
