import { describe, expect, it } from 'vitest'
import { cidOf } from '../../src/codec/cid.js'
import { makeBlock } from '../../src/ledger/block.js'
import {
  type Certificate,
  certify,
  makeCertificate,
  verifyCertificate,
} from '../../src/ledger/certificate.js'
import { DevBlockBuilder, makeDevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import { LedgerState } from '../../src/ledger/state.js'
import { buildBlock, verifyBlock } from '../../src/ledger/verify-block.js'

const chain = makeDevChain({ seed: 'verify', validators: 4 })
const all = new Map(chain.validators.map((v, i) => [i, v.secretKey]))
const three = new Map([...all].slice(0, 3))

function firstBlock(txs = new TxFactory(chain).bootstrap()) {
  const built = buildBlock(
    new LedgerState(chain.genesis),
    { chain: chain.genesis.chainId, height: 1, prev: null, time: chain.genesis.time + 1, proposer: 0 },
    txs,
  )
  if (!built.ok) throw new Error(built.error.message)
  return built.value.block
}

describe('ledger: commit certificates', () => {
  const block = firstBlock()
  const good = certify(chain.genesis, three, 1, 0, block.hash)

  it('accept 2f+1 = 3 distinct validators of 4', () => {
    expect(verifyCertificate(chain.genesis, good, 1, block.hash)).toBeUndefined()
  })

  const faults: Array<[string, string, () => Certificate]> = [
    [
      'only 2f votes',
      'no-quorum',
      () => certify(chain.genesis, new Map([...all].slice(0, 2)), 1, 0, block.hash),
    ],
    [
      'one validator counted twice',
      'duplicate-vote',
      () => makeCertificate(1, 0, block.hash, [good.votes[0]!, good.votes[0]!, good.votes[1]!]),
    ],
    [
      'a vote from index 9 of 4',
      'unknown-validator',
      () => makeCertificate(1, 0, block.hash, [...good.votes, { validator: 9, sig: good.votes[0]!.sig }]),
    ],
    [
      'a vote signed by another key',
      'bad-signature',
      () =>
        makeCertificate(1, 0, block.hash, [
          { validator: 3, sig: good.votes[0]!.sig },
          ...good.votes.slice(1),
        ]),
    ],
    ['votes of another view mixed in', 'bad-signature', () => makeCertificate(1, 1, block.hash, good.votes)],
    ['another height', 'wrong-height', () => certify(chain.genesis, three, 2, 0, block.hash)],
    ['another block', 'wrong-block', () => certify(chain.genesis, three, 1, 0, cidOf('other'))],
  ]
  for (const [name, code, make] of faults) {
    it(`refuse ${name} (${code})`, () => {
      expect(verifyCertificate(chain.genesis, make(), 1, block.hash)?.code).toBe(code)
    })
  }

  it('refuse votes signed for another chain', () => {
    const other = makeDevChain({ seed: 'verify', validators: 4, chainId: 'other-chain' })
    const cert = certify(other.genesis, three, 1, 0, block.hash)
    expect(verifyCertificate(chain.genesis, cert, 1, block.hash)?.code).toBe('bad-signature')
  })
})

describe('ledger: a follower verifying blocks from a peer', () => {
  it('accepts a chain of certified blocks and ends in the state the committee derived', () => {
    const builder = new DevBlockBuilder(chain)
    const f = new TxFactory(chain)
    let follower = new LedgerState(chain.genesis)
    const d = chain.key('d')
    for (const txs of [f.bootstrap(), [f.registerDevice(d.publicKey, 'gw', 'x')], []]) {
      const { block, cert } = builder.next(txs)
      const r = verifyBlock(follower, block, cert)
      if (!r.ok) throw new Error(r.error.message)
      follower = r.value
    }
    expect(follower.head).toEqual(builder.state.head)
    expect(follower.device(d.publicKey)?.product).toBe('gw')
  })

  it('refuses a forged block: wrong height, broken link, time going back, bad tx root, invalid tx, wrong state root, forged certificate', () => {
    const state = new LedgerState(chain.genesis)
    const base = {
      chain: chain.genesis.chainId,
      height: 1,
      prev: null,
      time: chain.genesis.time + 1,
      proposer: 0,
      stateRoot: state.stateRoot(),
    }
    const f = new TxFactory(chain)
    const good = firstBlock(f.bootstrap())
    const certFor = (b: { hash: typeof good.hash; header: { height: number } }) =>
      certify(chain.genesis, three, b.header.height, 0, b.hash)
    const tampered = { ...good, txs: good.txs.slice(1) }
    const cases: Array<[string, ReturnType<typeof makeBlock>, Certificate | undefined, string]> = [
      ['height 2 on an empty chain', makeBlock({ ...base, height: 2 }, []), undefined, 'wrong-height'],
      [
        'a parent that is not the head',
        makeBlock({ ...base, prev: cidOf('x') }, []),
        undefined,
        'broken-link',
      ],
      [
        'a time before genesis',
        makeBlock({ ...base, time: chain.genesis.time - 1 }, []),
        undefined,
        'time-backwards',
      ],
      ['a proposer that is no validator', makeBlock({ ...base, proposer: 7 }, []), undefined, 'bad-proposer'],
      ['a transaction dropped after signing', tampered, certFor(good), 'bad-tx-root'],
      [
        'a transaction the rules refuse',
        makeBlock(base, [f.approve(cidOf('none'), chain.approvers[0]!)]),
        undefined,
        'rejected-tx',
      ],
      ['another chain', makeBlock({ ...base, chain: 'other' }, []), undefined, 'wrong-chain'],
      [
        'a header whose state root is not where its transactions lead',
        makeBlock(base, f.bootstrap()),
        undefined,
        'bad-state-root',
      ],
      [
        'a certificate of outsiders',
        good,
        certify(
          chain.genesis,
          new Map([0, 1, 2].map((i) => [i, chain.key(`x${i}`).secretKey])),
          1,
          0,
          good.hash,
        ),
        'bad-certificate',
      ],
    ]
    for (const [name, block, cert, code] of cases) {
      const r = verifyBlock(state, block, cert ?? certFor(block))
      expect(r.ok ? 'accepted' : r.error.code, name).toBe(code)
    }
    expect(state.head.height, 'the follower state did not move').toBe(0)
  })
})
