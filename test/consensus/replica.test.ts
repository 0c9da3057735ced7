import { describe, expect, it } from 'vitest'
import { signPrepare } from '../../simulations/consensus/forge.js'
import type { Msg, PrePrepare, PreparedProof, ViewChange } from '../../src/consensus/messages.js'
import { newViewStatement, viewChangeStatement } from '../../src/consensus/messages.js'
import type { ReplicaOutput } from '../../src/consensus/replica.js'
import { BLOCK_TIME_LAG_MAX_MS } from '../../src/constants.js'
import { SigningDomain } from '../../src/crypto/domains.js'
import { sign } from '../../src/crypto/ed25519.js'
import { type Block, makeBlock } from '../../src/ledger/block.js'
import { signCommit, verifyCertificate } from '../../src/ledger/certificate.js'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import { LedgerState } from '../../src/ledger/state.js'
import { assembleTx } from '../../src/ledger/tx.js'
import { verifyBlock } from '../../src/ledger/verify-block.js'
import { chainOf, Harness } from './harness.js'

const chain = chainOf(4)
const g = chain.genesis
const sk = (i: number) => chain.validators[i]!.secretKey
/** The root of genesis's (empty) state: what an empty block at height 1 commits. */
const EMPTY_STATE_ROOT = new LedgerState(g).stateRoot()

function blockAt(
  height: number,
  proposer: number,
  time: number,
  prev: Block | null = null,
  txs: Block['txs'] = [],
  stateRoot: Uint8Array = EMPTY_STATE_ROOT,
): Block {
  return makeBlock(
    { chain: g.chainId, height, prev: prev ? prev.hash : null, time, proposer, stateRoot },
    txs,
  )
}

function prePrepare(view: number, block: Block, primary = view % 4): PrePrepare {
  return {
    type: 'pre-prepare',
    view,
    height: block.header.height,
    validator: primary,
    block,
    sig: signPrepare(sk(primary), g.chainId, block.header.height, view, block.hash),
  }
}

function sent(outputs: readonly ReplicaOutput[], type: Msg['type']): Msg[] {
  const out: Msg[] = []
  for (const o of outputs)
    if ((o.type === 'broadcast' || o.type === 'send') && o.msg.type === type) out.push(o.msg)
  return out
}

function viewChange(
  validator: number,
  view: number,
  prepared: PreparedProof | null = null,
  preparedBlock?: Block,
): ViewChange {
  const fields = { view, validator, head: null, prepared }
  return {
    type: 'view-change',
    ...fields,
    sig: sign(sk(validator), SigningDomain.consensus, viewChangeStatement(g.chainId, fields)),
    ...(preparedBlock ? { preparedBlock } : {}),
  }
}

function preparedProof(block: Block, view: number, voters: number[]): PreparedProof {
  return {
    height: block.header.height,
    view,
    block: block.hash,
    votes: voters.map((v) => ({
      validator: v,
      sig: signPrepare(sk(v), g.chainId, block.header.height, view, block.hash),
    })),
  }
}

describe('consensus: replica: normal case (n=4, f=1)', () => {
  it('commits a submitted transaction at every replica, and the 2f+1 commit votes are the block certificate', () => {
    const h = new Harness(chain)
    const f = new TxFactory(chain)
    const tx = f.registerDevice(chain.key('d').publicKey, 'gw', 'rev-a', [], chain.admin)
    expect(h.replica(2).submit(tx, h.now)).toEqual({ ok: true })
    h.drain(2)
    h.deliverAll()
    h.advance(100)
    for (let i = 0; i < 4; i++) {
      expect(h.commits[i]!.length, `replica ${i} committed`).toBe(1)
      const { block, cert } = h.commits[i]![0]!
      expect(
        block.txs.map((t) => t.idString),
        `replica ${i}`,
      ).toEqual([tx.idString])
      expect(verifyCertificate(g, cert, 1, block.hash), `replica ${i}'s certificate`).toBeUndefined()
      expect(cert.votes.length, `replica ${i}`).toBeGreaterThanOrEqual(3)
      // What a follower runs accepts it.
      expect(verifyBlock(new LedgerState(g), block, cert).ok, `replica ${i}'s block verifies`).toBe(true)
    }
  })

  it('commits an empty block at the heartbeat interval when nothing happens', () => {
    const h = new Harness(chain)
    h.advance(900)
    expect(h.commits[0]!.length).toBe(0)
    h.advance(300)
    for (let i = 0; i < 4; i++)
      expect(
        h.commits[i]!.map((c) => c.block.txs.length),
        `replica ${i}`,
      ).toEqual([0])
    h.advance(1000)
    for (let i = 0; i < 4; i++) expect(h.commits[i]!.length, `replica ${i}`).toBe(2)
  })

  it('persists what it signs before any message that carries the signature', () => {
    const h = new Harness(chain)
    const f = new TxFactory(chain)
    for (let k = 0; k < 3; k++) {
      h.replica(k).submit(
        f.registerDevice(chain.key(`p${k}`).publicKey, 'gw', 'rev-a', [], chain.admin),
        h.now,
      )
      h.drain(k)
    }
    h.deliverAll()
    h.advance(3000)
    let checked = 0
    for (let i = 0; i < 4; i++) {
      let record = undefined as (ReplicaOutput & { type: 'persist' })['record'] | undefined
      for (const o of h.outputs[i]!) {
        if (o.type === 'persist') record = o.record
        if (o.type !== 'broadcast' && o.type !== 'send') continue
        const m = o.msg
        if (m.type === 'pre-prepare' || m.type === 'prepare' || m.type === 'commit') {
          if (m.validator !== i) continue
          const phase = m.type === 'commit' ? 'commit' : 'prepare'
          const block = m.type === 'pre-prepare' ? m.block.hash : m.block
          expect(record?.signed?.height, `replica ${i} ${m.type} at ${m.height}`).toBe(m.height)
          expect(record?.signed?.view, `replica ${i} ${m.type} at ${m.height}`).toBe(m.view)
          expect(record?.signed?.[phase]?.equals(block), `replica ${i} ${m.type} at ${m.height}`).toBe(true)
          checked++
        }
      }
    }
    expect(checked).toBeGreaterThan(10)
  })
})

describe('consensus: replica: checkpoints and catch-up', () => {
  it('announces a checkpoint every interval and drops the message log below its head', () => {
    const h = new Harness(chain, { checkpointIntervalBlocks: 2 })
    h.advance(4500)
    for (let i = 0; i < 4; i++) {
      const checkpoints = h.outputs[i]!.filter((o) => o.type === 'checkpoint').map((o) =>
        o.type === 'checkpoint' ? o.height : 0,
      )
      expect(checkpoints, `replica ${i}`).toEqual([2, 4])
      h.replica(i).checkInvariants()
    }
  })

  it('a lagging replica takes committed blocks from a peer only with valid certificates', () => {
    const h = new Harness(chain)
    h.muted.add(3)
    h.advance(2200)
    h.muted.delete(3)
    const good = h.commits[0]!
    expect(good.length).toBe(2)
    const lagging = new Harness(chain)
    const target = lagging.replica(3)
    // A forged answer first: the block of height 1 with height 2's certificate.
    target.handleMessage(
      1,
      { type: 'sync-response', blocks: [{ block: good[0]!.block, cert: good[1]!.cert }] },
      lagging.now,
    )
    lagging.drain(3)
    expect(target.head).toBe(0)
    expect(
      lagging.outputs[3]!.some((o) => o.type === 'fault' && o.from === 1 && o.code === 'bad-certificate'),
    ).toBe(true)
    target.handleMessage(2, { type: 'sync-response', blocks: good }, lagging.now)
    lagging.drain(3)
    expect(target.head).toBe(2)
    expect(lagging.commits[3]!.map((c) => c.block.hashString)).toEqual(good.map((c) => c.block.hashString))
  })

  it('a replica that sees votes for later heights asks a peer for the blocks it missed', () => {
    const h = new Harness(chain, { syncDelayMs: 100 })
    h.deaf.add(3)
    h.advance(1100)
    expect(h.replica(0).head).toBe(1)
    expect(h.replica(3).head).toBe(0)
    h.deaf.delete(3)
    h.advance(1200)
    const request = h.outputs[3]!.find((o) => o.type === 'request-sync')
    expect(request?.type === 'request-sync' && request.height).toBe(1)
  })
})

describe('consensus: replica: restart', () => {
  it('a restarted backup never signs a second block for a height and view it already voted in', () => {
    const h = new Harness(chain)
    const a = blockAt(1, 0, g.time + 1)
    const b = blockAt(1, 0, g.time + 2)
    h.inject(0, 1, prePrepare(0, a))
    expect(sent(h.outputs[1]!, 'prepare')).toHaveLength(1)
    h.crash(1)
    h.restart(1)
    h.inject(0, 1, prePrepare(0, b))
    const prepares = sent(h.outputs[1]!, 'prepare')
    expect(prepares).toHaveLength(1)
    expect(prepares[0]!.type === 'prepare' && prepares[0]!.block.equals(a.hash)).toBe(true)
  })

  it('a restarted primary does not propose a different block in the view it proposed in', () => {
    const h = new Harness(chain)
    h.muted.add(0) // its proposal never leaves: only its own record knows it
    const f = new TxFactory(chain)
    h.replica(0).submit(f.registerDevice(chain.key('r1').publicKey, 'gw', 'rev-a', [], chain.admin), h.now)
    h.drain(0)
    h.advance(100)
    const first = sent(h.outputs[0]!, 'pre-prepare')
    expect(first).toHaveLength(1)
    h.crash(0)
    h.muted.delete(0)
    h.restart(0)
    h.replica(0).submit(f.registerDevice(chain.key('r2').publicKey, 'gw', 'rev-a', [], chain.admin), h.now)
    h.drain(0)
    h.advance(200)
    const proposals = sent(h.outputs[0]!, 'pre-prepare').filter(
      (m) => m.type === 'pre-prepare' && m.view === 0 && m.height === 1,
    )
    expect(proposals).toHaveLength(1)
  })

  it('a validator restarted while changing views carries its prepared block into the view change', () => {
    const h = new Harness(chain)
    const a = blockAt(1, 0, g.time + 1)
    // Replica 3 prepares `a` (pre-prepare and two prepares), then the view times out.
    h.inject(0, 3, prePrepare(0, a))
    for (const v of [1, 2]) {
      h.inject(v, 3, {
        type: 'prepare',
        view: 0,
        height: 1,
        block: a.hash,
        validator: v,
        sig: signPrepare(sk(v), g.chainId, 1, 0, a.hash),
      })
    }
    expect(sent(h.outputs[3]!, 'commit')).toHaveLength(1)
    h.queue.length = 0
    h.muted.add(0).add(1).add(2)
    h.advance(600)
    expect(h.stored[3]?.changing).toBe(true)
    h.crash(3)
    const r = h.restart(3)
    expect(r.isChangingView).toBe(true)
    const vcs = sent(h.outputs[3]!, 'view-change').filter((m) => m.type === 'view-change')
    const last = vcs.at(-1)
    expect(last?.type === 'view-change' && last.prepared?.block.equals(a.hash)).toBe(true)
    expect(last?.type === 'view-change' && last.preparedBlock?.hashString).toBe(a.hashString)
  })
})

describe('consensus: replica: faulty primaries', () => {
  it('a backup refuses a proposal that breaks the rules and moves to the next view', () => {
    const h = new Harness(chain)
    const f = new TxFactory(chain)
    const good = f.registerDevice(chain.key('x').publicKey, 'gw', 'rev-a', [], chain.admin)
    const forged = assembleTx(good.body, new Uint8Array(64).fill(9))
    h.inject(0, 2, prePrepare(0, blockAt(1, 0, g.time + 1, null, [forged])))
    expect(sent(h.outputs[2]!, 'prepare')).toHaveLength(0)
    expect(h.outputs[2]!.some((o) => o.type === 'fault' && o.code === 'rejected-tx')).toBe(true)
    expect(h.outputs[2]!.some((o) => o.type === 'view' && o.changing && o.view === 1)).toBe(true)
  })

  it('a backup refuses a proposal whose header commits another state root, and moves to the next view', () => {
    const h = new Harness(chain)
    const f = new TxFactory(chain)
    const tx = f.registerDevice(chain.key('x').publicKey, 'gw', 'rev-a', [], chain.admin)
    // The transaction is valid, but the header claims the state did not change.
    h.inject(0, 2, prePrepare(0, blockAt(1, 0, g.time + 1, null, [tx], EMPTY_STATE_ROOT)))
    expect(sent(h.outputs[2]!, 'prepare')).toHaveLength(0)
    expect(h.outputs[2]!.some((o) => o.type === 'fault' && o.code === 'bad-state-root')).toBe(true)
    expect(h.outputs[2]!.some((o) => o.type === 'view' && o.changing && o.view === 1)).toBe(true)
  })

  it('a backup refuses a proposal whose time is more than the allowed lag behind its clock (its time is what devices judge freshness by)', () => {
    const h = new Harness(chain)
    // A faulty primary stamps an old time, to make the live chain look frozen to devices.
    h.now = g.time + BLOCK_TIME_LAG_MAX_MS + 5_000
    h.inject(0, 2, prePrepare(0, blockAt(1, 0, g.time + 1_000)))
    expect(sent(h.outputs[2]!, 'prepare')).toHaveLength(0)
    expect(h.outputs[2]!.some((o) => o.type === 'fault' && o.code === 'stale-block-time')).toBe(true)
    // Within the lag, the same kind of block is fine.
    const ok = new Harness(chain)
    ok.now = g.time + BLOCK_TIME_LAG_MAX_MS
    ok.inject(0, 2, prePrepare(0, blockAt(1, 0, g.time + 1_000)))
    expect(sent(ok.outputs[2]!, 'prepare')).toHaveLength(1)
  })

  it('two signed proposals for one height and view are proof of equivocation', () => {
    const h = new Harness(chain)
    h.inject(0, 2, prePrepare(0, blockAt(1, 0, g.time + 1)))
    h.inject(0, 2, prePrepare(0, blockAt(1, 0, g.time + 2)))
    expect(h.outputs[2]!.some((o) => o.type === 'fault' && o.code === 'equivocation')).toBe(true)
    expect(h.replica(2).currentView).toBe(1)
    expect(sent(h.outputs[2]!, 'prepare')).toHaveLength(1)
  })

  it("a vote sent under another validator's name is refused as impersonation before any signature check, and that validator is not blamed", () => {
    const h = new Harness(chain)
    const a = blockAt(1, 0, g.time + 1)
    const b = blockAt(1, 0, g.time + 2)
    h.inject(2, 3, {
      type: 'prepare',
      view: 0,
      height: 1,
      block: a.hash,
      validator: 2,
      sig: signPrepare(sk(2), g.chainId, 1, 0, a.hash),
    })
    // Validator 1 sends a prepare for b claiming to be validator 2, with its own signature.
    h.inject(1, 3, {
      type: 'prepare',
      view: 0,
      height: 1,
      block: b.hash,
      validator: 2,
      sig: signPrepare(sk(1), g.chainId, 1, 0, b.hash),
    })
    const faults = h.outputs[3]!.filter((o) => o.type === 'fault')
    expect(faults).toEqual([expect.objectContaining({ from: 1, code: 'impersonation' })])
    // Even a vote that validator 2 did sign is refused when another validator hands it over:
    // validators send only their own votes, and a relay could only be a flood to verify.
    h.inject(1, 3, {
      type: 'commit',
      view: 0,
      height: 1,
      block: a.hash,
      validator: 2,
      sig: signCommit(sk(2), g.chainId, 1, 0, a.hash),
    })
    expect(h.outputs[3]!.filter((o) => o.type === 'fault').at(-1)).toEqual(
      expect.objectContaining({ from: 1, code: 'impersonation' }),
    )
    // Validator 2 really signing a second block is a provable double vote.
    h.inject(2, 3, {
      type: 'prepare',
      view: 0,
      height: 1,
      block: b.hash,
      validator: 2,
      sig: signPrepare(sk(2), g.chainId, 1, 0, b.hash),
    })
    expect(h.outputs[3]!.filter((o) => o.type === 'fault').at(-1)).toEqual(
      expect.objectContaining({ from: 2, code: 'double-vote' }),
    )
  })

  it('a proposal from a validator that is not the primary is refused', () => {
    const h = new Harness(chain)
    h.inject(1, 2, prePrepare(0, blockAt(1, 1, g.time + 1), 1))
    expect(sent(h.outputs[2]!, 'prepare')).toHaveLength(0)
    expect(h.outputs[2]!.some((o) => o.type === 'fault' && o.code === 'not-primary')).toBe(true)
  })

  it('view-change timeouts double with each view that fails to make progress', () => {
    const h = new Harness(chain)
    // Validators 0, 1 and 2 never propose; validator 3 (primary of view 3) does.
    for (const v of [0, 1, 2]) h.dropTypes.set(v, new Set(['pre-prepare', 'new-view']))
    const f = new TxFactory(chain)
    const tx = f.registerDevice(chain.key('t').publicKey, 'gw', 'rev-a', [], chain.admin)
    h.replica(3).submit(tx, h.now)
    h.drain(3)
    h.advance(8000)
    const moves: { view: number; at: number }[] = []
    h.outputs[3]!.forEach((o, k) => {
      if (o.type === 'view' && o.changing) moves.push({ view: o.view, at: h.times[3]![k]! - g.time })
    })
    expect(moves.map((m) => m.view)).toEqual([1, 2, 3])
    const gaps = [moves[1]!.at - moves[0]!.at, moves[2]!.at - moves[1]!.at]
    // Each wait is the timeout of its view: 800 ms, then 1600 ms (base 400 ms, doubling).
    expect(gaps[0]).toBeGreaterThanOrEqual(800)
    expect(gaps[1]).toBeGreaterThanOrEqual(1600)
    expect(gaps[1]! - gaps[0]!).toBeGreaterThanOrEqual(700)
    for (let i = 0; i < 4; i++)
      expect(
        h.commits[i]!.map((c) => c.block.txs.length),
        `replica ${i}`,
      ).toContain(1)
  })
})

describe('consensus: replica: NEW-VIEW checks', () => {
  const x = blockAt(1, 0, g.time + 1)
  const y = blockAt(1, 1, g.time + 3)
  const proof = preparedProof(x, 0, [0, 1, 2])

  function newView(viewChanges: ViewChange[], from = 1, view = 1) {
    const stripped = viewChanges.map(({ preparedBlock: _, ...rest }) => rest)
    const fields = { view, validator: from, viewChanges: stripped }
    return {
      type: 'new-view' as const,
      ...fields,
      sig: sign(sk(from), SigningDomain.consensus, newViewStatement(g.chainId, fields)),
    }
  }

  it('a new primary must re-propose the prepared block the view changes carry', () => {
    const h = new Harness(chain)
    h.inject(1, 3, newView([viewChange(0, 1), viewChange(1, 1), viewChange(2, 1, proof, x)]))
    expect(h.replica(3).currentView).toBe(1)
    h.inject(1, 3, prePrepare(1, y))
    expect(sent(h.outputs[3]!, 'prepare')).toHaveLength(0)
    expect(h.outputs[3]!.some((o) => o.type === 'fault' && o.code === 'new-view-violated')).toBe(true)
  })

  it('a validator restarted inside the new view still holds the new primary to the NEW-VIEW', () => {
    const h = new Harness(chain)
    h.inject(1, 3, newView([viewChange(0, 1), viewChange(1, 1), viewChange(2, 1, proof, x)]))
    h.crash(3)
    h.restart(3)
    expect(h.replica(3).currentView).toBe(1)
    h.inject(1, 3, prePrepare(1, y))
    expect(sent(h.outputs[3]!, 'prepare')).toHaveLength(0)
    h.inject(1, 3, prePrepare(1, x))
    expect(sent(h.outputs[3]!, 'prepare')).toHaveLength(0) // one proposal per view: y came first
    expect(h.outputs[3]!.some((o) => o.type === 'fault' && o.code === 'new-view-violated')).toBe(true)
  })

  it('a replica votes for the carried block when the new primary re-proposes it', () => {
    const h = new Harness(chain)
    h.inject(1, 3, newView([viewChange(0, 1), viewChange(1, 1), viewChange(2, 1, proof, x)]))
    h.inject(1, 3, prePrepare(1, x))
    const prepares = sent(h.outputs[3]!, 'prepare')
    expect(prepares).toHaveLength(1)
    expect(
      prepares[0]!.type === 'prepare' && prepares[0]!.block.equals(x.hash) && prepares[0]!.view === 1,
    ).toBe(true)
  })

  it('the new primary itself re-proposes the carried block', () => {
    const h = new Harness(chain)
    for (const v of [0, 2, 3])
      h.inject(v, 1, viewChange(v, 1, v === 2 ? proof : null, v === 2 ? x : undefined))
    const proposals = sent(h.outputs[1]!, 'pre-prepare')
    // One NEW-VIEW (repeated to a validator that asked late), and one proposal.
    const newViews = sent(h.outputs[1]!, 'new-view').map((m) =>
      m.type === 'new-view' ? Buffer.from(m.sig).toString('hex') : '',
    )
    expect(new Set(newViews).size).toBe(1)
    expect(proposals).toHaveLength(1)
    expect(proposals[0]!.type === 'pre-prepare' && proposals[0]!.block.hashString).toBe(x.hashString)
  })

  const refusals: [string, () => ReturnType<typeof newView>, string][] = [
    [
      'a forged view-change signature',
      () => {
        const bad = viewChange(2, 1)
        return newView([
          viewChange(0, 1),
          viewChange(1, 1),
          { ...bad, sig: sign(sk(3), SigningDomain.consensus, new Uint8Array(3)) },
        ])
      },
      'bad-signature',
    ],
    ['fewer than 2f+1 view changes', () => newView([viewChange(0, 1), viewChange(1, 1)]), 'no-quorum'],
    [
      'one validator counted twice',
      () => newView([viewChange(0, 1), viewChange(1, 1), viewChange(1, 1)]),
      'duplicate-vote',
    ],
    [
      'a view change for another view',
      () => newView([viewChange(0, 1), viewChange(1, 1), viewChange(2, 2)]),
      'wrong-view',
    ],
    [
      'a sender that is not the primary of the view',
      () => newView([viewChange(0, 1), viewChange(1, 1), viewChange(2, 1)], 2),
      'not-primary',
    ],
    [
      'a prepared proof with too few votes',
      () => newView([viewChange(0, 1), viewChange(1, 1), viewChange(2, 1, preparedProof(x, 0, [0, 2]))]),
      'bad-prepared',
    ],
    [
      'a prepared proof with a vote by a non-validator',
      () => {
        const p = preparedProof(x, 0, [0, 1, 2])
        return newView([
          viewChange(0, 1),
          viewChange(1, 1),
          viewChange(2, 1, { ...p, votes: [...p.votes.slice(0, 2), { validator: 9, sig: p.votes[2]!.sig }] }),
        ])
      },
      'bad-prepared',
    ],
  ]
  for (const [what, make, code] of refusals) {
    it(`a NEW-VIEW with ${what} is refused`, () => {
      const h = new Harness(chain)
      h.inject(1, 3, make())
      expect(h.replica(3).currentView).toBe(0)
      const fault = h.outputs[3]!.find((o) => o.type === 'fault')
      expect(fault?.type === 'fault' && fault.code).toBe(code)
    })
  }
})
