import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { preparedProof } from '../../simulations/consensus/forge.js'
import { type PreparedProof, prepareStatement, type ViewChange } from '../../src/consensus/messages.js'
import { decodeSafetyRecord, encodeSafetyRecord, type SafetyRecord } from '../../src/consensus/safety.js'
import { type SafetyRefusal, type SafetyResult, SafetyRules } from '../../src/consensus/safety-rules.js'
import { decideNewView, verifyNewView, verifyViewChange } from '../../src/consensus/view-change.js'
import { SigningDomain } from '../../src/crypto/domains.js'
import { verify } from '../../src/crypto/ed25519.js'
import { type Block, makeBlock } from '../../src/ledger/block.js'
import { commitMessage } from '../../src/ledger/certificate.js'
import { makeDevChain } from '../../src/ledger/dev-chain.js'

const chain = makeDevChain({ seed: 'consensus-safety-rules', validators: 4 })
const g = chain.genesis
const sk = (i: number) => chain.validators[i]!.secretKey
const pk = (i: number) => chain.validators[i]!.publicKey

function block(height: number, proposer: number, time = g.time + 1): Block {
  return makeBlock(
    { chain: g.chainId, height, prev: null, time, proposer, stateRoot: new Uint8Array(32) },
    [],
  )
}

const a1 = block(1, 0)
const b1 = block(1, 0, g.time + 2)
const a2 = block(2, 0)

/** The signer of validator `index`, fresh or restarted from `record`, with the head at `head`. */
function rules(index: number, record?: SafetyRecord, head = 0): SafetyRules {
  return new SafetyRules({ genesis: g, index, secretKey: sk(index), head, ...(record ? { record } : {}) })
}

/** The record as a driver stores it and reads it back after a crash. */
function restart(r: SafetyRules, index: number, head = 0): SafetyRules {
  const decoded = decodeSafetyRecord(encodeSafetyRecord(r.record))
  if (!decoded.ok) throw new Error(decoded.error.message)
  return rules(index, decoded.value, head)
}

function prepared(b: Block, view: number, voters = [0, 1, 2]): PreparedProof {
  return preparedProof(g.chainId, sk, b, view, voters)
}

function refusal<T>(result: SafetyResult<T>): SafetyRefusal['code'] | 'signed' {
  return result.ok ? 'signed' : result.error.code
}

/** View changes of validators `voters` for `view`, each from its own signer at genesis. */
function viewChanges(view: number, voters: readonly number[]): ViewChange[] {
  return voters.map((v) => {
    const r = rules(v)
    expect(r.moveToView(view).ok).toBe(true)
    const vc = r.signViewChange(null)
    if (!vc.ok) throw new Error(vc.error.message)
    return vc.value
  })
}

describe('consensus: safety rules', () => {
  it('signs a prepare, a pre-prepare and a commit that verify against their statements', () => {
    const primary = rules(0)
    const pp = primary.signPrePrepare(1, 0, a1)
    if (!pp.ok) throw new Error(pp.error.message)
    expect(verify(pk(0), SigningDomain.consensus, prepareStatement(g.chainId, 1, 0, a1.hash), pp.value)).toBe(
      true,
    )
    const replica = rules(1)
    const prepare = replica.signPrepare(1, 0, a1)
    if (!prepare.ok) throw new Error(prepare.error.message)
    expect(
      verify(pk(1), SigningDomain.consensus, prepareStatement(g.chainId, 1, 0, a1.hash), prepare.value),
    ).toBe(true)
    const commit = replica.signCommit(prepared(a1, 0), a1)
    if (!commit.ok) throw new Error(commit.error.message)
    expect(verify(pk(1), SigningDomain.commit, commitMessage(g.chainId, 1, 0, a1.hash), commit.value)).toBe(
      true,
    )
  })

  it('updates its record before it hands out the signature', () => {
    const r = rules(1)
    expect(r.signPrepare(1, 0, a1).ok).toBe(true)
    expect(r.record.signed?.height).toBe(1)
    expect(r.record.signed?.prepare?.equals(a1.hash)).toBe(true)
    expect(r.signCommit(prepared(a1, 0), a1).ok).toBe(true)
    expect(r.record.signed?.commit?.equals(a1.hash)).toBe(true)
    expect(r.record.prepared?.block.hashString).toBe(a1.hashString)
  })

  it('never signs two different blocks for one height, view and phase (conflicting-vote)', () => {
    const r = rules(1)
    expect(refusal(r.signPrepare(1, 0, a1))).toBe('signed')
    expect(refusal(r.signPrepare(1, 0, b1)), 'a second prepare').toBe('conflicting-vote')
    expect(refusal(r.signPrepare(1, 0, a1)), 'the same prepare again').toBe('signed')
    expect(refusal(r.signCommit(prepared(a1, 0), a1))).toBe('signed')
    expect(refusal(r.signCommit(prepared(b1, 0), b1)), 'a second commit').toBe('conflicting-vote')
    const primary = rules(0)
    expect(refusal(primary.signPrePrepare(1, 0, a1))).toBe('signed')
    expect(refusal(primary.signPrePrepare(1, 0, b1)), 'a second proposal').toBe('conflicting-vote')
  })

  it('never votes below a height it voted at (vote-regress)', () => {
    const r = rules(1)
    expect(refusal(r.signPrepare(2, 0, a2))).toBe('signed')
    expect(refusal(r.signPrepare(1, 0, a1))).toBe('vote-regress')
    expect(refusal(r.signCommit(prepared(a1, 0), a1))).toBe('vote-regress')
  })

  it('votes only in its current view, never in one it moved past nor while moving (wrong-view)', () => {
    const r = rules(1)
    expect(refusal(r.signPrepare(1, 1, a1)), 'a view ahead').toBe('wrong-view')
    expect(r.moveToView(1).ok).toBe(true)
    expect(refusal(r.signPrepare(1, 0, a1)), 'the view it left').toBe('wrong-view')
    expect(refusal(r.signPrepare(1, 1, a1)), 'the view it is moving to').toBe('wrong-view')
    expect(refusal(r.signCommit(prepared(a1, 1), a1)), 'a commit while moving').toBe('wrong-view')
  })

  it('proposes and sends a NEW-VIEW only as the primary of the view (not-primary)', () => {
    expect(refusal(rules(1).signPrePrepare(1, 0, a1))).toBe('not-primary')
    const r = rules(2)
    expect(r.moveToView(1).ok).toBe(true)
    expect(refusal(r.signNewView(viewChanges(1, [0, 1, 3])))).toBe('not-primary')
  })

  it('inside a view entered by a NEW-VIEW, prepares only the block it names (new-view-violated)', () => {
    const r = rules(2)
    expect(r.moveToView(1).ok).toBe(true)
    expect(r.enterView({ view: 1, height: 1, block: a1.hashString, headFrom: 0 }).ok).toBe(true)
    expect(refusal(r.signPrepare(1, 1, b1))).toBe('new-view-violated')
    expect(refusal(r.signPrepare(1, 1, a1))).toBe('signed')
    const primary = rules(1)
    expect(primary.enterView({ view: 1, height: 1, block: a1.hashString, headFrom: 0 }).ok).toBe(true)
    expect(refusal(primary.signPrePrepare(1, 1, b1))).toBe('new-view-violated')
  })

  it('commits only a block with 2f+1 prepare votes for it (not-prepared)', () => {
    const r = rules(1)
    expect(refusal(r.signCommit(prepared(b1, 0), a1)), 'a proof for another block').toBe('not-prepared')
    expect(refusal(r.signCommit(prepared(a1, 0, [0, 2]), a1)), 'two votes').toBe('not-prepared')
    expect(refusal(r.signCommit(prepared(a1, 0, [2, 2, 2]), a1)), 'one voter thrice').toBe('not-prepared')
    expect(r.record.signed, 'nothing recorded').toBeNull()
  })

  it('moves only to later views and enters none below (view-regress)', () => {
    const r = rules(1)
    expect(r.moveToView(2).ok).toBe(true)
    expect(refusal(r.moveToView(1))).toBe('view-regress')
    expect(refusal(r.moveToView(2)), 'the view it already moves to').toBe('view-regress')
    expect(refusal(r.enterView({ view: 1, height: 1, block: null, headFrom: 0 }))).toBe('view-regress')
    expect(r.enterView({ view: 2, height: 1, block: null, headFrom: 0 }).ok).toBe(true)
    expect(refusal(r.enterView({ view: 2, height: 1, block: null, headFrom: 0 })), 'the view it is in').toBe(
      'view-regress',
    )
  })

  it('signs a view change or a NEW-VIEW only while moving to its view (not-changing)', () => {
    const r = rules(1)
    expect(refusal(r.signViewChange(null))).toBe('not-changing')
    expect(refusal(r.signNewView(viewChanges(1, [0, 2, 3])))).toBe('not-changing')
  })

  it('sends one NEW-VIEW per view, from view changes of 2f+1 validators (new-view-repeated, no-quorum)', () => {
    const r = rules(1)
    expect(r.moveToView(1).ok).toBe(true)
    expect(refusal(r.signNewView(viewChanges(1, [0, 2])))).toBe('no-quorum')
    expect(refusal(r.signNewView(viewChanges(2, [0, 2, 3]))), 'votes for another view').toBe('no-quorum')
    const votes = viewChanges(1, [0, 2, 3])
    const nv = r.signNewView(votes)
    if (!nv.ok) throw new Error(nv.error.message)
    expect(verifyNewView(g, nv.value).ok).toBe(true)
    expect(refusal(r.signNewView(viewChanges(1, [0, 2, 3].reverse())))).toBe('new-view-repeated')
    expect(r.enterView(decideNewView(1, votes)).ok).toBe(true)
  })

  it('carries its highest prepared proof and block into its view change', () => {
    const r = rules(1)
    expect(r.signPrepare(1, 0, a1).ok).toBe(true)
    expect(r.signCommit(prepared(a1, 0), a1).ok).toBe(true)
    expect(r.moveToView(1).ok).toBe(true)
    const vc = r.signViewChange(null)
    if (!vc.ok) throw new Error(vc.error.message)
    expect(vc.value.prepared?.block.equals(a1.hash)).toBe(true)
    expect(vc.value.preparedBlock?.hashString).toBe(a1.hashString)
    expect(verifyViewChange(g, vc.value)).toBeUndefined()
    r.committed(1)
    expect(r.record.prepared, 'a committed height needs no proof').toBeNull()
  })

  describe('after a restart from its persisted record it still refuses the conflicting signature', () => {
    it('a second prepare, commit or proposal at one height and view', () => {
      const r = rules(1)
      expect(r.signPrepare(1, 0, a1).ok).toBe(true)
      expect(r.signCommit(prepared(a1, 0), a1).ok).toBe(true)
      const back = restart(r, 1)
      expect(refusal(back.signPrepare(1, 0, b1))).toBe('conflicting-vote')
      expect(refusal(back.signCommit(prepared(b1, 0), b1))).toBe('conflicting-vote')
      const primary = rules(0)
      expect(primary.signPrePrepare(1, 0, a1).ok).toBe(true)
      expect(refusal(restart(primary, 0).signPrePrepare(1, 0, b1))).toBe('conflicting-vote')
    })

    it('a vote in a view it moved past, and a move back', () => {
      const r = rules(1)
      expect(r.moveToView(3).ok).toBe(true)
      const back = restart(r, 1)
      expect(back.changing).toBe(true)
      expect(refusal(back.signPrepare(1, 2, a1))).toBe('wrong-view')
      expect(refusal(back.moveToView(2))).toBe('view-regress')
    })

    it('a second NEW-VIEW for its view', () => {
      const r = rules(1)
      expect(r.moveToView(1).ok).toBe(true)
      expect(r.signNewView(viewChanges(1, [0, 2, 3])).ok).toBe(true)
      expect(refusal(restart(r, 1).signNewView(viewChanges(1, [2, 3, 0])))).toBe('new-view-repeated')
    })

    it('a block other than the one its NEW-VIEW names', () => {
      const r = rules(2)
      expect(r.enterView({ view: 1, height: 1, block: a1.hashString, headFrom: 0 }).ok).toBe(true)
      expect(refusal(restart(r, 2).signPrepare(1, 1, b1))).toBe('new-view-violated')
    })

    it('a view change without its prepared proof', () => {
      const r = rules(1)
      expect(r.signPrepare(1, 0, a1).ok).toBe(true)
      expect(r.signCommit(prepared(a1, 0), a1).ok).toBe(true)
      expect(r.moveToView(1).ok).toBe(true)
      const vc = restart(r, 1).signViewChange(null)
      if (!vc.ok) throw new Error(vc.error.message)
      expect(vc.value.prepared?.block.equals(a1.hash)).toBe(true)
    })
  })

  it('is the only code of the replica that signs consensus messages', () => {
    // Every file of src/consensus, comments aside: none but the signer imports the ed25519
    // `sign` function or calls the raw vote signers (the replica calls the signer's methods).
    const dir = join(import.meta.dirname, '../../src/consensus')
    const signers: string[] = []
    for (const file of readdirSync(dir)) {
      const code = readFileSync(join(dir, file), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '')
      const importsSign = /import\s*\{[^}]*\bsign\b[^}]*\}\s*from\s*'[^']*crypto\/ed25519\.js'/.test(code)
      const callsRawSigner = /(?<![.\w])sign(Commit|Prepare)\s*\(/.test(code)
      if (importsSign || callsRawSigner) signers.push(file)
    }
    expect(signers).toEqual(['safety-rules.ts'])
  })
})
