import { describe, expect, it } from 'vitest'
import { preparedProof } from '../../simulations/consensus/forge.js'
import { type PreparedProof, type ViewChange, viewChangeStatement } from '../../src/consensus/messages.js'
import { decideNewView, primaryOf, verifyViewChange } from '../../src/consensus/view-change.js'
import { SigningDomain } from '../../src/crypto/domains.js'
import { sign } from '../../src/crypto/ed25519.js'
import { type Block, makeBlock } from '../../src/ledger/block.js'
import { certify } from '../../src/ledger/certificate.js'
import { makeDevChain } from '../../src/ledger/dev-chain.js'

const chain = makeDevChain({ seed: 'consensus-view-change', validators: 4 })
const g = chain.genesis
const sk = (i: number) => chain.validators[i]!.secretKey
const keys = new Map(chain.validators.map((v, i) => [i, v.secretKey]))

const b1 = makeBlock(
  { chain: g.chainId, height: 1, prev: null, time: g.time + 1, proposer: 0, stateRoot: new Uint8Array(32) },
  [],
)
const b2a = makeBlock(
  {
    chain: g.chainId,
    height: 2,
    prev: b1.hash,
    time: g.time + 2,
    proposer: 1,
    stateRoot: new Uint8Array(32),
  },
  [],
)
const b2b = makeBlock(
  {
    chain: g.chainId,
    height: 2,
    prev: b1.hash,
    time: g.time + 3,
    proposer: 2,
    stateRoot: new Uint8Array(32),
  },
  [],
)
const head1 = { height: 1, block: b1.hash, cert: certify(g, keys, 1, 0, b1.hash) }

function proof(block: Block, view: number, voters = [0, 1, 2]): PreparedProof {
  return preparedProof(g.chainId, sk, block, view, voters)
}

function vc(
  validator: number,
  view: number,
  head: ViewChange['head'],
  prepared: PreparedProof | null,
): ViewChange {
  const fields = { view, validator, head, prepared }
  return {
    type: 'view-change',
    ...fields,
    sig: sign(sk(validator), SigningDomain.consensus, viewChangeStatement(g.chainId, fields)),
  }
}

describe('consensus: view change: the outcome every replica recomputes', () => {
  it('starts after the highest certified head and leaves the block free when nothing prepared there', () => {
    const d = decideNewView(5, [vc(0, 5, null, null), vc(1, 5, head1, null), vc(2, 5, null, proof(b1, 3))])
    expect(d).toEqual({ view: 5, height: 2, block: null, headFrom: 1 })
  })

  it('re-proposes the block of the highest-view prepared proof at that height', () => {
    const d = decideNewView(5, [
      vc(0, 5, head1, proof(b2a, 2)),
      vc(1, 5, head1, proof(b2b, 4)),
      vc(3, 5, head1, null),
    ])
    expect(d.height).toBe(2)
    expect(d.block).toBe(b2b.hashString)
  })

  it('ignores a prepared proof below the new view first height', () => {
    const d = decideNewView(5, [
      vc(0, 5, null, proof(b1, 4)),
      vc(1, 5, head1, null),
      vc(3, 5, head1, proof(b2a, 1)),
    ])
    expect(d.height).toBe(2)
    expect(d.block).toBe(b2a.hashString)
  })

  it('rotates the primary over the validators', () => {
    expect([0, 1, 2, 3, 4, 5].map((v) => primaryOf(v, 4))).toEqual([0, 1, 2, 3, 0, 1])
  })
})

describe('consensus: view change: checking one vote', () => {
  const cases: [string, ViewChange, string | undefined][] = [
    ['a well-formed vote with a head and a prepared proof', vc(2, 5, head1, proof(b2a, 3)), undefined],
    ['a prepared proof from the view it wants to leave for', vc(2, 3, head1, proof(b2a, 3)), 'bad-prepared'],
    ['a prepared proof not at the height after its head', vc(2, 5, null, proof(b2a, 3)), 'bad-prepared'],
    [
      'a head certificate of too few validators',
      vc(2, 5, { ...head1, cert: certify(g, new Map([...keys].slice(0, 2)), 1, 0, b1.hash) }, null),
      'bad-head',
    ],
    [
      'a prepared proof signed by the same validator twice',
      vc(2, 5, head1, {
        ...proof(b2a, 3),
        votes: [...proof(b2a, 3).votes.slice(0, 2), proof(b2a, 3).votes[0]!],
      }),
      'bad-prepared',
    ],
    ['a signature by another validator', { ...vc(2, 5, head1, null), validator: 1 }, 'bad-signature'],
    [
      'an attached block that is not the prepared one',
      { ...vc(2, 5, head1, proof(b2a, 3)), preparedBlock: b2b },
      'bad-prepared',
    ],
  ]
  for (const [what, vote, code] of cases) {
    it(`${code ? 'refuses' : 'accepts'} ${what}`, () => {
      expect(verifyViewChange(g, vote)?.code).toBe(code)
    })
  }

  it('checks a vote once: a cached vote is not verified again', () => {
    const cache = new Set<string>()
    const vote = vc(1, 5, head1, proof(b2a, 3))
    expect(verifyViewChange(g, vote, cache)).toBeUndefined()
    expect(cache.size).toBeGreaterThan(0)
    expect(verifyViewChange(g, vote, cache)).toBeUndefined()
  })
})
