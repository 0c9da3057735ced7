import { describe, expect, it } from 'vitest'
import {
  BEHAVIOURS,
  type Behaviour,
  type BehaviourName,
  makeBehaviour,
} from '../../simulations/consensus/byzantine.js'
import { Scenario } from '../../simulations/consensus/scenario.js'
import { encode } from '../../src/consensus/messages.js'
import { makeBlock } from '../../src/ledger/block.js'
import { certify } from '../../src/ledger/certificate.js'
import { makeDevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import { assembleTx } from '../../src/ledger/tx.js'

/**
 * The classic cases, each told as a story on a clean network (5 ms links, no loss) with the
 * same drivers and invariant checks as the seeded runs.
 */

function registrations(s: Scenario, count: number, label: string) {
  const f = new TxFactory(s.chain)
  return Array.from({ length: count }, (_, k) =>
    f.registerDevice(s.chain.key(`${label}/${k}`).publicKey, 'gw', 'rev-a', [], s.chain.admin),
  )
}

describe('consensus: view change (n=4, f=1)', () => {
  it('the primary crashes right after its pre-prepare; the backups commit its block, then change view for the next', () => {
    let crashed = false
    const s = new Scenario({
      validators: 4,
      intercept: (node, out) => {
        if (!crashed && node.index === 0 && out.type === 'broadcast' && out.msg.type === 'pre-prepare') {
          crashed = true
          return 'crash'
        }
        return undefined
      },
    }).start()
    const [first, second] = registrations(s, 2, 'crash-after-pp')
    s.submit(first!, 0)
    expect(s.runUntil(() => crashed, 1000)).toBe(true)
    expect(s.cluster.nodesOf(0)[0]!.up).toBe(false)
    const others = [1, 2, 3].map((i) => s.cluster.nodesOf(i)[0]!)
    // The pre-prepare reached the three backups: 2f+1 of them prepare and commit it.
    expect(s.runUntil(() => others.every((v) => v.replica!.ledger.txs.has(first!.idString)), 2_000)).toBe(
      true,
    )
    // The next transaction needs a primary: they replace the crashed one.
    s.submit(second!, 2)
    expect(s.runUntil(() => others.every((v) => v.replica!.ledger.txs.has(second!.idString)), 10_000)).toBe(
      true,
    )
    for (const v of others)
      expect(v.replica!.currentView, `validator ${v.index} left view 0`).toBeGreaterThan(0)
    // The primary comes back from its store, catches up and follows the new view.
    s.cluster.nodesOf(0)[0]!.start()
    expect(s.runUntil(() => s.committedEverywhere(second!), 5_000)).toBe(true)
    expect(s.violations).toEqual([])
  })

  it('the primary crashes after its pre-prepare reached one backup only; the block is not lost or forked', () => {
    let crashed = false
    const s = new Scenario({
      validators: 4,
      intercept: (node, out) => {
        if (!crashed && node.index === 0 && out.type === 'broadcast' && out.msg.type === 'pre-prepare') {
          crashed = true
          node.cluster.sendFrom(node.address, 1, encode(out.msg))
          return 'drop'
        }
        return undefined
      },
    }).start()
    const [tx] = registrations(s, 1, 'crash-one-backup')
    s.submit(tx!, 0)
    expect(s.runUntil(() => crashed, 1000)).toBe(true)
    s.cluster.nodesOf(0)[0]!.crash()
    expect(
      s.runUntil(
        () => [1, 2, 3].every((i) => s.cluster.nodesOf(i)[0]!.replica!.ledger.txs.has(tx!.idString)),
        10_000,
      ),
    ).toBe(true)
    for (const i of [1, 2, 3])
      expect(s.cluster.nodesOf(i)[0]!.replica!.currentView, `validator ${i}`).toBeGreaterThan(0)
    expect(s.violations).toEqual([])
  })

  it('a partition isolates the primary, then heals; commits go on in the majority and the primary catches up', () => {
    const s = new Scenario({ validators: 4, followers: 1 })
    const majority = new Map<number, number>()
    for (let a = 0; a < s.cluster.addressCount; a++) majority.set(a, a === 0 ? 1 : 0)
    s.cluster.net.addPartition({ groupOf: majority, from: s.t0 + 100, until: s.t0 + 4000 })
    s.start()
    const txs = registrations(s, 3, 'partition')
    s.at(200, () => s.submit(txs[0]!, 1))
    s.at(300, () => s.submit(txs[1]!, 2))
    s.at(2500, () => s.submit(txs[2]!, 3))
    s.runFor(3900)
    for (const i of [1, 2, 3]) {
      const r = s.cluster.nodesOf(i)[0]!.replica!
      for (const tx of txs)
        expect(r.ledger.txs.has(tx.idString), `validator ${i} committed during the partition`).toBe(true)
      expect(r.currentView, `validator ${i}`).toBeGreaterThan(0)
    }
    const isolated = s.cluster.nodesOf(0)[0]!.replica!
    expect(isolated.head).toBe(0)
    expect(s.runUntil(() => txs.every((tx) => s.committedEverywhere(tx)), 5_000)).toBe(true)
    const heads = s.heads()
    expect(Math.max(...(heads as number[])) - Math.min(...(heads as number[]))).toBeLessThanOrEqual(1)
    expect(s.violations).toEqual([])
  })

  it('a block that committed at one replica only is carried into the next view, never replaced', () => {
    const s = new Scenario({
      validators: 4,
      // Validator 3 is the only one to see the commits; its own view changes and hints are
      // lost, so the new view is built by the three that only prepared the block.
      intercept: (node, out) =>
        node.index === 3 &&
        (out.type === 'broadcast' || out.type === 'send') &&
        out.msg.type !== 'commit' &&
        out.msg.type !== 'prepare'
          ? 'drop'
          : undefined,
    })
    s.cluster.dropRules.push({
      from: s.t0,
      until: s.t0 + 1500,
      kinds: new Set(['commit']),
      to: new Set([0, 1, 2]),
    })
    s.start()
    const [tx] = registrations(s, 1, 'carried')
    s.at(10, () => s.submit(tx!, 0))
    s.runFor(300)
    const lone = s.cluster.nodesOf(3)[0]!.replica!
    expect(lone.head).toBe(1)
    expect([0, 1, 2].map((i) => s.cluster.nodesOf(i)[0]!.replica!.head)).toEqual([0, 0, 0])
    expect(s.runUntil(() => s.committedEverywhere(tx!), 10_000)).toBe(true)
    for (const i of [0, 1, 2]) {
      const r = s.cluster.nodesOf(i)[0]!.replica!
      expect(r.currentView, `validator ${i} changed view`).toBeGreaterThan(0)
      expect(r.certificate?.height === 1 ? r.certificate.view : 'later', `validator ${i}`).not.toBe(0)
    }
    expect(s.violations).toEqual([])
  })
})

describe('consensus: catch-up', () => {
  it('a restarted validator catches up over 1,000 blocks from its peers, checking every certificate', () => {
    const chain = makeDevChain({
      seed: 'catch-up',
      validators: 4,
      params: { blockIntervalMs: 5, emptyBlockIntervalMs: 10 },
    })
    const s = new Scenario({ validators: 4, chain, followers: 0, latencyMs: 1 }).start()
    const lagging = s.cluster.nodesOf(3)[0]!
    lagging.crash()
    const leader = s.cluster.nodesOf(1)[0]!
    expect(s.runUntil(() => leader.replica!.head >= 1000, 120_000)).toBe(true)
    const target = leader.replica!.head
    lagging.start()
    expect(s.runUntil(() => (lagging.replica?.head ?? 0) >= target, 30_000)).toBe(true)
    expect(lagging.store.blocks.length).toBeGreaterThanOrEqual(1000)
    // It takes part again: with another validator down, progress needs it.
    s.cluster.nodesOf(2)[0]!.crash()
    const before = leader.replica!.head
    expect(s.runUntil(() => leader.replica!.head >= before + 5, 20_000)).toBe(true)
    expect(s.violations).toEqual([])
  })
})

describe('consensus: follower', () => {
  it('a follower fed a forged block by a peer rejects it, and accepts the real one', () => {
    const passThrough: Behaviour = {
      name: 'malformed',
      outgoing: (ctx, to, msg) => ctx.send(to, encode(msg)),
    }
    const s = new Scenario({ validators: 4, followers: 1, byzantine: new Map([[3, passThrough]]) }).start()
    const follower = s.cluster.followers[0]!
    const [tx] = registrations(s, 1, 'forged')
    // Before anything commits, validator 3 (faulty) offers a height-1 block with a forged
    // transaction, "certified" by itself and keys that are not validators.
    const forgedTx = assembleTx(tx!.body, new Uint8Array(64).fill(5))
    const forged = makeBlock(
      {
        chain: s.chain.genesis.chainId,
        height: 1,
        prev: null,
        time: s.chain.genesis.time + 1,
        proposer: 3,
        stateRoot: new Uint8Array(32),
      },
      [forgedTx],
    )
    const keys = new Map<number, Uint8Array>([
      [3, s.chain.validators[3]!.secretKey],
      [0, s.chain.key('fake/0').secretKey],
      [1, s.chain.key('fake/1').secretKey],
    ])
    const cert = certify(s.chain.genesis, keys, 1, 0, forged.hash)
    let verdict: string | undefined
    s.at(1, () => {
      verdict = follower.follower.handleBlock(3, forged, cert, s.cluster.sim.now).kind
      s.cluster.sendFrom(3, follower.address, encode({ type: 'block', block: forged, cert }))
    })
    s.runFor(5)
    expect(verdict).toBe('rejected')
    expect(follower.follower.head).toBe(0)
    s.submit(tx!, 1)
    expect(s.runUntil(() => s.committedEverywhere(tx!), 5_000)).toBe(true)
    expect(follower.follower.ledger.head.hash).not.toBe(forged.hashString)
    expect(s.violations).toEqual([])
  })
})

describe('consensus: byzantine validators (n=4, f=1, the first primary faulty)', () => {
  const sentences: Record<Exclude<BehaviourName, 'twins'>, string> = {
    equivocate: 'an equivocating primary (two blocks for one height) cannot split the honest replicas',
    malformed: 'a replica sending malformed or badly signed messages is ignored',
    'vote-all': 'a replica voting for everything cannot make a conflicting block commit',
    'silent-primary': 'a silent primary is replaced and transactions commit',
    delay: 'a primary whose messages arrive after the timeouts is replaced',
    mutate:
      'a replica mutating its messages (view or height off by one, old proposals, swapped digests) is harmless',
  }
  for (const name of BEHAVIOURS) {
    if (name === 'twins') continue
    it(sentences[name], () => {
      const s = new Scenario({
        validators: 4,
        followers: 1,
        seed: 3,
        byzantine: new Map([[0, makeBehaviour(name)]]),
      }).start()
      const txs = registrations(s, 4, `byz/${name}`)
      for (const [k, tx] of txs.entries()) s.at(50 + 300 * k, () => s.submit(tx, 1 + (k % 3)))
      expect(
        s.runUntil(
          () => s.cluster.sim.now - s.t0 > 1300 && txs.every((tx) => s.committedEverywhere(tx)),
          30_000,
        ),
      ).toBe(true)
      expect(s.violations).toEqual([])
    })
  }

  it('a Twins pair (two replicas sharing one key) cannot split the honest replicas', () => {
    const s = new Scenario({ validators: 4, followers: 1, seed: 4, twins: new Set([0]) })
    // Each twin is cut off from a different honest replica.
    const [twinA, twinB] = s.cluster.nodesOf(0)
    const groupOf = new Map<number, number>()
    for (let a = 0; a < s.cluster.addressCount; a++) groupOf.set(a, 0)
    groupOf.set(twinA!.address, 1)
    groupOf.set(1, 1)
    groupOf.set(twinB!.address, 2)
    groupOf.set(2, 2)
    s.cluster.net.addPartition({ groupOf, from: s.t0, until: s.t0 + 1500 })
    s.start()
    const txs = registrations(s, 3, 'twins')
    for (const [k, tx] of txs.entries()) s.at(20 + 200 * k, () => s.submit(tx, 1 + k))
    expect(s.runUntil(() => txs.every((tx) => s.committedEverywhere(tx)), 30_000)).toBe(true)
    expect(s.violations).toEqual([])
  })
})
