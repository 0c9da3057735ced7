import type { FollowerLimits } from '../../src/consensus/follower.js'
import type { ConsensusLimits } from '../../src/consensus/limits.js'
import type { DevChain } from '../../src/ledger/dev-chain.js'
import type { SignedTx } from '../../src/ledger/tx.js'
import { Prng } from '../../src/prng.js'
import type { LinkModel } from '../network.js'
import type { Behaviour } from './byzantine.js'
import { Cluster, type ClusterConfig } from './cluster.js'
import { EVENTS_MAX, QUEUE_MAX, SIM_LIMITS, simChain } from './run.js'

/**
 * A scripted cluster for scenario tests: the same drivers and checker as the seeded runs, on
 * a clean network (fixed latency, no loss) unless the scenario says otherwise, with helpers
 * to submit, run for a while, run until something holds, and look at every node.
 */

export interface ScenarioOptions {
  readonly validators: number
  readonly followers?: number
  readonly seed?: number
  readonly chain?: DevChain
  readonly limits?: Partial<ConsensusLimits>
  readonly followerLimits?: Partial<FollowerLimits>
  readonly byzantine?: ReadonlyMap<number, Behaviour>
  readonly twins?: ReadonlySet<number>
  readonly latencyMs?: number
  readonly link?: (from: number, to: number) => LinkModel
  readonly intercept?: ClusterConfig['intercept']
  readonly trace?: (line: string) => void
}

export class Scenario {
  readonly cluster: Cluster
  readonly chain: DevChain
  /** Virtual time of genesis: scenario times are relative to it. */
  readonly t0: number

  constructor(options: ScenarioOptions) {
    this.chain = options.chain ?? simChain(options.validators)
    const latency = options.latencyMs ?? 5
    this.cluster = new Cluster({
      chain: this.chain,
      prng: Prng.fromSeed(`scenario/${options.seed ?? 0}`),
      limits: { ...SIM_LIMITS, ...options.limits },
      ...(options.followerLimits ? { followerLimits: options.followerLimits } : {}),
      followers: options.followers ?? 1,
      byzantine: options.byzantine ?? new Map(),
      twins: options.twins ?? new Set(),
      link:
        options.link ??
        (() => ({ latencyMs: latency, jitterMs: 0, loss: 0, duplicate: 0, reorder: 0, reorderMs: 0 })),
      eventsMax: EVENTS_MAX,
      queueMax: QUEUE_MAX,
      ...(options.intercept ? { intercept: options.intercept } : {}),
      ...(options.trace ? { trace: options.trace } : {}),
    })
    this.t0 = this.chain.genesis.time
  }

  get now(): number {
    return this.cluster.sim.now - this.t0
  }

  start(): this {
    this.cluster.start()
    return this
  }

  /** Submits to one validator (its first node), as a client would, and tells the checker. */
  submit(tx: SignedTx, toIndex: number): void {
    this.cluster.checker.onSubmit(tx, this.cluster.sim.now)
    this.cluster.nodesOf(toIndex)[0]!.submit(tx)
  }

  /** Schedules `fn` at scenario time `at` (milliseconds after genesis). */
  at(at: number, fn: () => void): void {
    this.cluster.sim.at(this.t0 + at, fn)
  }

  runFor(ms: number): void {
    this.cluster.sim.run(this.cluster.sim.now + ms, () => this.cluster.checkAfterEvent())
  }

  /** Runs until `done()` holds (checked after every event) or `maxMs` pass; true when it held. */
  runUntil(done: () => boolean, maxMs: number): boolean {
    if (done()) return true
    let held = false
    this.cluster.sim.run(this.cluster.sim.now + maxMs, () => {
      this.cluster.checkAfterEvent()
      if (done()) {
        held = true
        this.cluster.sim.stop()
      }
    })
    return held
  }

  /** Committed heights of every validator node (undefined while down), by address. */
  heads(): (number | undefined)[] {
    return this.cluster.validators.map((v) => v.replica?.head)
  }

  /** True when every honest validator and follower has committed the transaction. */
  committedEverywhere(tx: SignedTx): boolean {
    return (
      this.cluster.honestValidators().every((v) => v.replica?.ledger.txs.has(tx.idString) === true) &&
      this.cluster.followers.every((f) => f.follower.ledger.txs.has(tx.idString))
    )
  }

  get violations(): readonly string[] {
    return this.cluster.checker.violations
  }
}

export type { Behaviour }
