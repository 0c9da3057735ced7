import { describe, expect, it } from 'vitest'
import { Mempool, type MempoolLimits } from '../../src/consensus/mempool.js'
import { makeDevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import { apply } from '../../src/ledger/rules.js'
import { LedgerState } from '../../src/ledger/state.js'
import { assembleTx, type SignedTx } from '../../src/ledger/tx.js'

const chain = makeDevChain({ seed: 'consensus-mempool' })
const f = new TxFactory(chain)
const registrars = Array.from({ length: 6 }, (_, i) => chain.key(`registrar/${i}`))
const ctx = { height: 2, time: chain.genesis.time + 10 }

/** A committed state where six keys hold the registrar role. */
function stateWithRegistrars(): LedgerState {
  const state = new LedgerState(chain.genesis)
  for (const r of registrars) {
    const next = apply(state, f.grantRole(r.publicKey, 'registrar'), { height: 1, time: chain.genesis.time })
    if (!next.ok) throw new Error(next.error.message)
    next.value.mergeIntoParent()
  }
  state.head = { height: 1, hash: 'b-fake-head', time: chain.genesis.time }
  return state
}

let deviceCounter = 0
function registration(by: number): SignedTx {
  return f.registerDevice(
    chain.key(`device/${deviceCounter++}`).publicKey,
    'gw',
    'rev-a',
    [],
    registrars[by]!,
  )
}

const roomy: MempoolLimits = { txsMax: 1000, bytesMax: 1 << 20, signerSharePercent: 100 }

describe('consensus: mempool: admission', () => {
  it('admits a transaction that passes the rules, once', () => {
    const pool = new Mempool(roomy)
    const state = stateWithRegistrars()
    const tx = registration(0)
    expect(pool.admit(tx, state, ctx, 0)).toEqual({ ok: true })
    const again = pool.admit(tx, state, ctx, 1)
    expect(again.ok).toBe(false)
    if (!again.ok) expect(again.rejection.code).toBe('mempool.duplicate')
    expect(pool.size).toBe(1)
    pool.checkInvariants()
  })

  it('refuses what the rules refuse: a forged signature, an unknown signer', () => {
    const pool = new Mempool(roomy)
    const state = stateWithRegistrars()
    const good = registration(1)
    const forged = assembleTx(good.body, new Uint8Array(64).fill(3))
    const stranger = f.registerDevice(chain.key('x').publicKey, 'gw', 'rev-a', [], chain.key('nobody'))
    const cases: [SignedTx, string][] = [
      [forged, 'tx.bad-signature'],
      [stranger, 'signer.unknown'],
    ]
    for (const [tx, code] of cases) {
      const r = pool.admit(tx, state, ctx, 0)
      expect(r.ok, code).toBe(false)
      if (!r.ok) expect(r.rejection.code, code).toBe(code)
    }
    expect(pool.size).toBe(0)
  })

  it('checks a transaction against the committed state plus what is already pending', () => {
    const pool = new Mempool(roomy)
    const state = stateWithRegistrars()
    const newRegistrar = chain.key('late-registrar')
    const grant = f.grantRole(newRegistrar.publicKey, 'registrar')
    const dependent = f.registerDevice(chain.key('dep').publicKey, 'gw', 'rev-a', [], newRegistrar)
    expect(pool.admit(dependent, state, ctx, 0).ok).toBe(false)
    expect(pool.admit(grant, state, ctx, 1).ok).toBe(true)
    expect(pool.admit(dependent, state, ctx, 2).ok).toBe(true)
    // The same device twice: the second conflicts with the pending first.
    const device = chain.key('twice').publicKey
    expect(pool.admit(f.registerDevice(device, 'gw', 'rev-a', [], registrars[0]!), state, ctx, 3).ok).toBe(
      true,
    )
    const second = pool.admit(f.registerDevice(device, 'gw', 'rev-a', [], registrars[1]!), state, ctx, 4)
    expect(second.ok).toBe(false)
    if (!second.ok) expect(second.rejection.code).toBe('device.already-registered')
  })

  it('finds a pending transaction from its envelope bytes, and forgets it once gone', () => {
    const pool = new Mempool(roomy)
    const state = stateWithRegistrars()
    const tx = registration(0)
    pool.admit(tx, state, ctx, 0)
    expect(pool.byEnvelope(tx.bytes)).toBe(tx)
    expect(pool.byEnvelope(tx.bytes.subarray(0, 20))).toBeUndefined()
    pool.onCommit([tx.idString], state)
    expect(pool.byEnvelope(tx.bytes)).toBeUndefined()
    pool.checkInvariants()
  })

  it('is bounded in count and in bytes', () => {
    const state = stateWithRegistrars()
    const byCount = new Mempool({ txsMax: 5, bytesMax: 1 << 20, signerSharePercent: 100 })
    for (let i = 0; i < 5; i++) expect(byCount.admit(registration(i), state, ctx, i).ok, `tx ${i}`).toBe(true)
    const sixth = byCount.admit(registration(5), state, ctx, 5)
    expect(sixth.ok).toBe(false)
    if (!sixth.ok) expect(sixth.rejection.code).toBe('mempool.full')
    const size = registration(0).bytes.byteLength
    const byBytes = new Mempool({ txsMax: 100, bytesMax: 3 * size + 10, signerSharePercent: 100 })
    for (let i = 0; i < 3; i++) expect(byBytes.admit(registration(0), state, ctx, i).ok, `tx ${i}`).toBe(true)
    expect(byBytes.admit(registration(0), state, ctx, 3).ok).toBe(false)
    expect(byBytes.bytes).toBeLessThanOrEqual(3 * size + 10)
    byCount.checkInvariants()
    byBytes.checkInvariants()
  })

  it('refuses for room without touching its draft: a full pool does not re-check what is pending', () => {
    const state = stateWithRegistrars()
    const pool = new Mempool({ txsMax: 6, bytesMax: 1 << 20, signerSharePercent: 100 })
    for (let i = 0; i < 6; i++) expect(pool.admit(registration(i), state, ctx, i).ok, `tx ${i}`).toBe(true)
    expect(pool.draftRebuilds).toBe(1)
    for (let i = 0; i < 20; i++) {
      const r = pool.admit(registration(i % 6), state, ctx, 10 + i)
      expect(r.ok ? undefined : r.rejection.code).toBe('mempool.full')
    }
    expect(pool.draftRebuilds, 'the refusals left the draft as it was').toBe(1)
    // The refused transactions are not in the draft: a block takes exactly the six pending.
    const { txs } = pool.take(state, ctx, 100, 1 << 20)
    expect(txs.length).toBe(6)
    // A transaction the rules refuse is still refused by the rules, full or not.
    const forged = registration(0)
    const bad = pool.admit({ ...forged, signature: new Uint8Array(64) }, state, ctx, 40)
    expect(bad.ok ? undefined : bad.rejection.code).not.toMatch(/^mempool\./)
    pool.checkInvariants()
  })

  it('gives one signer at most its share, so a flood leaves room for everyone else', () => {
    const state = stateWithRegistrars()
    const pool = new Mempool({ txsMax: 10, bytesMax: 1 << 20, signerSharePercent: 30 })
    let admitted = 0
    for (let i = 0; i < 20; i++) if (pool.admit(registration(0), state, ctx, i).ok) admitted++
    expect(admitted).toBe(3)
    const r = pool.admit(registration(0), state, ctx, 20)
    if (!r.ok) expect(r.rejection.code).toBe('mempool.signer-full')
    for (let s = 1; s < 4; s++) {
      expect(pool.admit(registration(s), state, ctx, 30 + s).ok, `registrar ${s}`).toBe(true)
    }
  })

  it('evicts the newest transaction of the biggest signer when full, for a signer holding fewer', () => {
    const state = stateWithRegistrars()
    const pool = new Mempool({ txsMax: 6, bytesMax: 1 << 20, signerSharePercent: 100 })
    const flood = Array.from({ length: 6 }, () => registration(0))
    for (const [i, tx] of flood.entries()) expect(pool.admit(tx, state, ctx, i).ok, `flood ${i}`).toBe(true)
    const newcomer = registration(1)
    expect(pool.admit(newcomer, state, ctx, 10).ok).toBe(true)
    expect(pool.has(newcomer.idString)).toBe(true)
    expect(pool.has(flood[5]!.idString)).toBe(false)
    expect(pool.has(flood[0]!.idString)).toBe(true)
    expect(pool.size).toBe(6)
    pool.checkInvariants()
  })
})

describe('consensus: mempool: eviction', () => {
  /** A pool of six, full of registrar 0's registrations. */
  function fullOfOneSigner(): { pool: Mempool; state: LedgerState; flood: SignedTx[] } {
    const state = stateWithRegistrars()
    const pool = new Mempool({ txsMax: 6, bytesMax: 1 << 20, signerSharePercent: 100 })
    const flood = Array.from({ length: 6 }, () => registration(0))
    for (const [i, tx] of flood.entries()) expect(pool.admit(tx, state, ctx, i).ok, `flood ${i}`).toBe(true)
    return { pool, state, flood }
  }

  it('rechecks nothing pending when it evicts; the next block rebuilds the draft once', () => {
    const { pool, state, flood } = fullOfOneSigner()
    expect(pool.draftRebuilds).toBe(1)
    for (let s = 1; s <= 4; s++)
      expect(pool.admit(registration(s), state, ctx, 10 + s).ok, `registrar ${s}`).toBe(true)
    expect(pool.has(flood[2]!.idString), 'four evictions took the flood back to two').toBe(false)
    expect(pool.draftRebuilds, 'evictions left the draft in place').toBe(1)
    const { txs, draft } = pool.take(state, ctx, 2, 1 << 20)
    draft.head = { height: 2, hash: 'b-two', time: ctx.time }
    draft.mergeIntoParent()
    pool.onCommit(
      txs.map((t) => t.idString),
      state,
    )
    expect(pool.admit(registration(5), state, { height: 3, time: ctx.time }, 20).ok).toBe(true)
    expect(pool.draftRebuilds, 'the block after the evictions rebuilt it').toBe(2)
    pool.checkInvariants()
  })

  it('admits a transaction that only an evicted one stood against', () => {
    const { pool, state, flood } = fullOfOneSigner()
    // Registrar 1's registration evicts flood[5]; its device is free again.
    expect(pool.admit(registration(1), state, ctx, 10).ok).toBe(true)
    expect(pool.has(flood[5]!.idString)).toBe(false)
    const evicted = flood[5]!.body as { device: Uint8Array }
    const again = f.registerDevice(evicted.device, 'gw', 'rev-a', [], registrars[2]!)
    const r = pool.admit(again, state, ctx, 11)
    expect(r.ok ? 'admitted' : r.rejection.code).toBe('admitted')
    expect(pool.has(again.idString)).toBe(true)
    pool.checkInvariants()
  })

  it('never puts in a block what relied on an evicted transaction, and drops it at the next block', () => {
    const state = stateWithRegistrars()
    const pool = new Mempool({ txsMax: 6, bytesMax: 1 << 20, signerSharePercent: 100 })
    const late = Array.from({ length: 6 }, (_, i) => chain.key(`late-registrar/${i}`))
    const grants = late.map((k) => f.grantRole(k.publicKey, 'registrar'))
    for (const [i, tx] of grants.entries()) expect(pool.admit(tx, state, ctx, i).ok, `grant ${i}`).toBe(true)
    // Checked against the pending grants, then the admin's newest grant makes room for it.
    const dependent = f.registerDevice(chain.key('relies').publicKey, 'gw', 'rev-a', [], late[5]!)
    expect(pool.admit(dependent, state, ctx, 10).ok).toBe(true)
    expect(pool.has(grants[5]!.idString)).toBe(false)
    const { txs, draft } = pool.take(state, ctx, 100, 1 << 20)
    expect(txs.map((t) => t.idString)).toEqual(grants.slice(0, 5).map((t) => t.idString))
    draft.head = { height: 2, hash: 'b-grants', time: ctx.time }
    draft.mergeIntoParent()
    pool.onCommit(
      txs.map((t) => t.idString),
      state,
    )
    expect(pool.has(dependent.idString), 'pending until the draft is rebuilt').toBe(true)
    pool.revalidate(state, { height: 3, time: ctx.time })
    expect(pool.has(dependent.idString)).toBe(false)
    expect(pool.size).toBe(0)
    pool.checkInvariants()
  })
})

describe('consensus: mempool: relay to the primary', () => {
  it('relays what went longest unsent, at most a batch at a time, each again only after the wait', () => {
    const state = stateWithRegistrars()
    const pool = new Mempool(roomy)
    const txs = Array.from({ length: 5 }, (_, i) => registration(i % 6))
    for (const [i, tx] of txs.entries()) pool.admit(tx, state, ctx, i)
    const ids = (list: SignedTx[]) => list.map((t) => txs.indexOf(t))
    expect(pool.nextRelayAt(100)).toBe(100)
    expect(ids(pool.dueForRelay(101, 100, 3)), 'only those 100 ms old').toEqual([0, 1])
    expect(pool.nextRelayAt(100)).toBe(102)
    expect(ids(pool.dueForRelay(104, 100, 2)), 'a batch of two').toEqual([2, 3])
    expect(pool.nextRelayAt(100)).toBe(104)
    expect(ids(pool.dueForRelay(201, 100, 10)), 'the never-sent first, then the sent at 101').toEqual([
      4, 0, 1,
    ])
    expect(pool.nextRelayAt(100)).toBe(204)
    pool.onCommit([txs[2]!.idString, txs[3]!.idString], state)
    expect(pool.nextRelayAt(100), 'committed ones are not relayed').toBe(301)
    expect(pool.dueForRelay(250, 100, 10)).toEqual([])
    pool.checkInvariants()
  })

  it('is empty of relays when empty', () => {
    const pool = new Mempool(roomy)
    expect(pool.nextRelayAt(100)).toBeUndefined()
    expect(pool.dueForRelay(1_000, 100, 10)).toEqual([])
  })
})

describe('consensus: mempool: block building', () => {
  it('takes the oldest first, and every signer gets its share before one signer fills the block', () => {
    const state = stateWithRegistrars()
    const pool = new Mempool(roomy)
    const flood = Array.from({ length: 20 }, () => registration(0))
    for (const [i, tx] of flood.entries()) pool.admit(tx, state, ctx, i)
    const others = [1, 2, 3, 4].map((s) => registration(s))
    for (const [i, tx] of others.entries()) pool.admit(tx, state, ctx, 100 + i)
    const { txs } = pool.take(state, ctx, 8, 1 << 20)
    expect(txs).toHaveLength(8)
    for (const tx of others)
      expect(
        txs.map((t) => t.idString),
        'each other signer is in the block',
      ).toContain(tx.idString)
    // The flooder's picks are its oldest, in order.
    const floodPicks = txs.filter((t) => flood.includes(t))
    expect(floodPicks).toEqual(flood.slice(0, floodPicks.length))
  })

  it('fills the rest of the block oldest first when few signers wait', () => {
    const state = stateWithRegistrars()
    const pool = new Mempool(roomy)
    const a = Array.from({ length: 10 }, () => registration(0))
    const b = registration(1)
    for (const [i, tx] of a.entries()) pool.admit(tx, state, ctx, i)
    pool.admit(b, state, ctx, 50)
    const { txs } = pool.take(state, ctx, 6, 1 << 20)
    expect(txs).toHaveLength(6)
    expect(txs).toContain(b)
  })

  it('stays within the block byte limit', () => {
    const state = stateWithRegistrars()
    const pool = new Mempool(roomy)
    for (let i = 0; i < 10; i++) pool.admit(registration(i % 6), state, ctx, i)
    const size = registration(0).bytes.byteLength
    const { txs } = pool.take(state, ctx, 100, 3 * (size + 8))
    expect(txs.length).toBe(3)
  })

  it('still sees pending and committed transactions after a block took the oldest pending ones', () => {
    const state = stateWithRegistrars()
    const pool = new Mempool(roomy)
    const devices = [0, 1, 2].map((k) => chain.key(`prefix/${k}`).publicKey)
    const txs = devices.map((d, k) => f.registerDevice(d, 'gw', 'rev-a', [], registrars[k]!))
    for (const [i, tx] of txs.entries()) expect(pool.admit(tx, state, ctx, i).ok, `tx ${i}`).toBe(true)
    const { txs: picked, draft } = pool.take(state, ctx, 2, 1 << 20)
    expect(picked).toEqual(txs.slice(0, 2))
    draft.head = { height: 2, hash: 'b-two', time: ctx.time }
    draft.mergeIntoParent()
    pool.onCommit(
      picked.map((t) => t.idString),
      state,
    )
    const next = { height: 3, time: ctx.time }
    for (const [k, d] of devices.entries()) {
      const again = pool.admit(f.registerDevice(d, 'gw', 'rev-b', [], registrars[3]!), state, next, 10 + k)
      expect(again.ok, `device ${k} is registered or pending`).toBe(false)
    }
    expect(pool.admit(registration(4), state, next, 20).ok).toBe(true)
    expect(pool.size).toBe(2)
    pool.checkInvariants()
  })

  it('drops committed transactions and, on revalidation, those a commit made invalid', () => {
    const state = stateWithRegistrars()
    const pool = new Mempool(roomy)
    const device = chain.key('contested').publicKey
    const mine = f.registerDevice(device, 'gw', 'rev-a', [], registrars[0]!)
    const other = registration(2)
    pool.admit(mine, state, ctx, 0)
    pool.admit(other, state, ctx, 1)
    // Another validator's block registered the same device with a different transaction.
    const theirs = f.registerDevice(device, 'gw', 'rev-b', [], registrars[1]!)
    const next = apply(state, theirs, ctx)
    if (!next.ok) throw new Error(next.error.message)
    next.value.mergeIntoParent()
    state.head = { height: 2, hash: 'b-next', time: ctx.time }
    pool.onCommit([theirs.idString], state)
    pool.revalidate(state, { height: 3, time: ctx.time })
    expect(pool.has(mine.idString)).toBe(false)
    expect(pool.has(other.idString)).toBe(true)
    pool.checkInvariants()
  })
})
