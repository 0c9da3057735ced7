import type { ConsensusLimits } from '../../src/consensus/limits.js'
import { type DevChain, makeDevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import { faultTolerance } from '../../src/ledger/genesis.js'
import type { SignedTx } from '../../src/ledger/tx.js'
import { Prng } from '../../src/prng.js'
import { EventBudgetExceeded } from '../engine.js'
import type { LinkModel } from '../network.js'
import { BEHAVIOURS, type Behaviour, type BehaviourName, makeBehaviour } from './byzantine.js'
import { Cluster } from './cluster.js'

/**
 * One seeded consensus run: everything (who is byzantine and how, link qualities, a
 * partition, a crash and restart, when transactions arrive and where) is drawn from the
 * seed, so `runConsensusSeed({seed})` replays a run exactly. Faults heal at a drawn time;
 * after that every submitted transaction must commit at every honest validator and follower
 * within `LIVENESS_BOUND_MS` of virtual time.
 */

export type ByzantineMode = BehaviourName | 'mixed' | 'none'

export interface ConsensusRunOptions {
  readonly seed: number
  readonly validators: number
  readonly byzantine: ByzantineMode
  readonly trace?: (line: string) => void
}

export interface ConsensusRunResult {
  readonly seed: number
  readonly validators: number
  readonly faulty: readonly { readonly index: number; readonly behaviour: BehaviourName }[]
  readonly forks: number
  readonly livenessFailures: number
  readonly violations: readonly string[]
  readonly maxCommitLatencyMs: number
  readonly txs: number
  readonly height: number
  readonly viewEvents: number
  readonly events: number
  readonly virtualMs: number
  readonly healAt: number
}

/** Chain parameters of simulated runs: short intervals, so seconds cover many blocks. */
export const SIM_PARAMS = { blockIntervalMs: 50, emptyBlockIntervalMs: 1000 } as const

/** Replica limits of simulated runs: timeouts a few network round trips long. */
export const SIM_LIMITS: Partial<ConsensusLimits> = {
  viewChangeTimeoutBaseMs: 400,
  viewChangeTimeoutMaxMs: 6400,
  retransmitMs: 150,
  syncRequestTimeoutMs: 400,
  syncDelayMs: 100,
  checkpointIntervalBlocks: 8,
  blockTimeDriftMaxMs: 1000,
}

/** Virtual time after faults heal (or after the last submission) within which every transaction must commit. */
export const LIVENESS_BOUND_MS = 20_000
/** A client resubmits a transaction that has not committed after this long, to another validator. */
export const RESUBMIT_MS = 1_500
/** Every run is bounded in events and in pending events. */
export const EVENTS_MAX = 2_000_000
export const QUEUE_MAX = 200_000

const chains = new Map<number, DevChain>()

/** The dev chain of simulated committees of `n` (cached: key derivation is the slow part). */
export function simChain(n: number): DevChain {
  let chain = chains.get(n)
  if (!chain) {
    chain = makeDevChain({ seed: `consensus-sim/${n}`, validators: n, params: SIM_PARAMS })
    chains.set(n, chain)
  }
  return chain
}

function drawLink(prng: Prng): LinkModel {
  return {
    latencyMs: prng.range(1, 40),
    jitterMs: prng.range(0, 10),
    loss: prng.chance(0.5) ? prng.next() * 0.03 : 0,
    duplicate: prng.chance(0.3) ? prng.next() * 0.03 : 0,
    reorder: prng.chance(0.3) ? prng.next() * 0.1 : 0,
    reorderMs: prng.range(0, 60),
  }
}

function drawFaulty(prng: Prng, n: number, mode: ByzantineMode): Map<number, BehaviourName> {
  const f = faultTolerance(n)
  const out = new Map<number, BehaviourName>()
  if (mode === 'none' || f === 0) return out
  const count = mode === 'mixed' ? prng.range(0, f) : f
  const indices = prng.shuffle([...Array(n).keys()])
  // The first primary is validator 0: make it faulty often, so primary faults happen early.
  if (count > 0 && prng.chance(0.5) && !indices.slice(0, count).includes(0)) indices.unshift(0)
  let twinsUsed = false
  for (const i of indices.slice(0, count)) {
    let b: BehaviourName = mode === 'mixed' ? prng.pick(BEHAVIOURS) : mode
    if (b === 'twins' && twinsUsed && mode === 'mixed') b = prng.pick(BEHAVIOURS.filter((x) => x !== 'twins'))
    if (b === 'twins') twinsUsed = true
    out.set(i, b)
  }
  return out
}

export function runConsensusSeed(options: ConsensusRunOptions): ConsensusRunResult {
  const { seed, validators: n } = options
  const prng = Prng.fromSeed(`consensus/${n}/${options.byzantine}/${seed}`)
  const chain = simChain(n)
  const faulty = drawFaulty(prng.child('faulty'), n, options.byzantine)
  const byzantine = new Map<number, Behaviour>()
  const twins = new Set<number>()
  for (const [i, b] of faulty) {
    if (b === 'twins') twins.add(i)
    else byzantine.set(i, makeBehaviour(b))
  }
  const linkPrng = prng.child('links')
  const cluster = new Cluster({
    chain,
    prng,
    limits: SIM_LIMITS,
    followers: 1,
    byzantine,
    twins,
    link: () => drawLink(linkPrng),
    eventsMax: EVENTS_MAX,
    queueMax: QUEUE_MAX,
    ...(options.trace ? { trace: options.trace } : {}),
  })
  const { sim, net, checker } = cluster
  const t0 = chain.genesis.time
  const faults = prng.child('faults')

  // A partition, healed before `healAt`.
  let healAt = 0
  if (faults.chance(0.5)) {
    const from = faults.range(0, 2000)
    const until = from + faults.range(300, 2500)
    const groupOf = new Map<number, number>()
    for (let a = 0; a < cluster.addressCount; a++) groupOf.set(a, faults.int(2))
    net.addPartition({ groupOf, from: t0 + from, until: t0 + until })
    healAt = Math.max(healAt, until)
  }
  // Round-targeted losses: for a while, prepares or commits (or view changes) reach only
  // some validators, so blocks commit at a few replicas and view changes must carry them.
  if (faults.chance(0.4)) {
    const from = faults.range(0, 2500)
    const until = from + faults.range(300, 1500)
    const kinds = new Set([
      faults.pick(['commit', 'commit', 'prepare', 'view-change', 'new-view', 'pre-prepare']),
    ])
    if (faults.chance(0.5)) kinds.add(faults.pick(['commit', 'prepare', 'status']))
    const to = new Set<number>()
    // Often everyone but one: that one commits, the rest must learn the block in a new view.
    const spared = faults.chance(0.5) ? faults.int(cluster.addressCount) : -1
    for (let a = 0; a < cluster.addressCount; a++)
      if (spared >= 0 ? a !== spared : faults.chance(0.6)) to.add(a)
    cluster.dropRules.push({ from: t0 + from, until: t0 + until, kinds, to })
    healAt = Math.max(healAt, until)
  }
  // A crash and restart of an honest validator, sometimes between a persist and its sends.
  if (faults.chance(0.4)) {
    const honest = cluster.honestValidators()
    const victim = faults.pick(honest)
    const at = faults.range(0, 2500)
    const down = faults.range(200, 2000)
    const midOutput = faults.chance(0.5)
    sim.at(t0 + at, () => {
      if (!victim.up) return
      if (midOutput) victim.crashAfterOutputs = faults.int(6)
      else victim.crash()
    })
    sim.at(t0 + at + down, () => {
      victim.crashAfterOutputs = null
      if (victim.up) victim.crash()
      victim.start()
    })
    healAt = Math.max(healAt, at + down)
  }

  // The client: a few independent transactions, each to one validator, resubmitted elsewhere
  // until it commits (as any client of a BFT service does).
  const factory = new TxFactory(chain)
  const load = prng.child('load')
  const txCount = load.range(3, 6)
  const txs: SignedTx[] = []
  let lastSubmitAt = 0
  for (let k = 0; k < txCount; k++) {
    const tx =
      k % 3 === 2
        ? factory.grantRole(chain.key(`sim/${seed}/${k}`).publicKey, 'approver')
        : factory.registerDevice(chain.key(`sim/${seed}/${k}`).publicKey, 'gw', 'rev-a', [], chain.admin)
    txs.push(tx)
    const at = load.range(0, healAt + 1000)
    lastSubmitAt = Math.max(lastSubmitAt, at)
    const submit = (attempt: number) => {
      if (checker.isCommitted(tx.idString) || attempt > 32) return
      checker.onSubmit(tx, sim.now)
      const index = load.int(n)
      const node = load.pick(cluster.nodesOf(index))
      node.submit(tx)
      sim.after(RESUBMIT_MS, () => submit(attempt + 1))
    }
    sim.at(t0 + at, () => submit(0))
  }

  cluster.start()
  const deadline = t0 + Math.max(healAt, lastSubmitAt) + LIVENESS_BOUND_MS
  const settleAt = t0 + Math.max(healAt, lastSubmitAt) + 500
  const honest = cluster.honestValidators()
  const allCommitted = (): boolean => {
    for (const tx of txs) {
      if (!checker.submitted.has(tx.idString)) return false
      for (const v of honest) if (!v.replica?.ledger.txs.has(tx.idString)) return false
      for (const f of cluster.followers) if (!f.follower.ledger.txs.has(tx.idString)) return false
    }
    return true
  }
  let dirty = false
  cluster.onCommit(() => {
    dirty = true
  })
  let budgetError: string | undefined
  try {
    sim.run(deadline, () => {
      cluster.checkAfterEvent()
      if (dirty && sim.now >= settleAt) {
        dirty = false
        if (allCommitted()) sim.stop()
      }
    })
  } catch (e) {
    if (!(e instanceof EventBudgetExceeded)) throw e
    budgetError = e.message
  }
  if (budgetError) checker.violation(`the run exceeded its event budget: ${budgetError}`)

  // Liveness: every transaction at every honest validator and follower, in bounded time.
  let livenessFailures = 0
  let maxCommitLatencyMs = 0
  for (const tx of txs) {
    const submitted = checker.submitted.get(tx.idString)
    const everywhere =
      submitted !== undefined &&
      honest.every((v) => v.replica?.ledger.txs.has(tx.idString)) &&
      cluster.followers.every((f) => f.follower.ledger.txs.has(tx.idString))
    if (!everywhere) {
      livenessFailures++
      if (options.trace) {
        const where = honest.map(
          (v) =>
            `${v.address}:${v.replica ? `${v.replica.head}/v${v.replica.currentView}${v.replica.isChangingView ? '*' : ''}/${v.replica.ledger.txs.has(tx.idString) ? 'has' : 'lacks'}/mp${v.replica.mempool.size}` : 'down'}`,
        )
        options.trace(
          `not committed everywhere: ${tx.idString} ${where.join(' ')} follower ${cluster.followers.map((f) => f.follower.head)}`,
        )
      }
      continue
    }
    const times = checker.commitTimes.get(tx.idString)
    let last = 0
    for (const v of honest) last = Math.max(last, times?.get(v.address) ?? 0)
    maxCommitLatencyMs = Math.max(maxCommitLatencyMs, last - submitted.at)
  }
  return {
    seed,
    validators: n,
    faulty: [...faulty].map(([index, behaviour]) => ({ index, behaviour })),
    forks: checker.forks,
    livenessFailures,
    violations: checker.violations,
    maxCommitLatencyMs,
    txs: txs.length,
    height: checker.height,
    viewEvents: cluster.viewEvents,
    events: sim.eventsProcessed,
    virtualMs: sim.now - t0,
    healAt,
  }
}
