import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/codec/bytes.js'
import { didFromPublicKey } from '../../src/crypto/did.js'
import { makeDevChain } from '../../src/ledger/dev-chain.js'
import {
  faultTolerance,
  genesisId,
  genesisToJson,
  parseGenesis,
  quorumSize,
} from '../../src/ledger/genesis.js'

const chain = makeDevChain({ seed: 'genesis' })
const doc = JSON.parse(genesisToJson(chain.genesis))

describe('ledger: genesis', () => {
  it('parses what it writes, and accepts did:key as well as hex keys', () => {
    const withDid = { ...doc, admins: [didFromPublicKey(chain.admin.publicKey)] }
    const parsed = parseGenesis(JSON.stringify(withDid))
    if (!parsed.ok) throw new Error(parsed.error.message)
    expect(toHex(parsed.value.admins[0]!)).toBe(toHex(chain.admin.publicKey))
    expect(genesisId(parsed.value).equals(genesisId(chain.genesis))).toBe(true)
  })

  const faults: Array<[string, unknown, RegExp]> = [
    ['not JSON', '{', /not a JSON object/],
    ['a chain id with capitals', { ...doc, chainId: 'Prod' }, /chainId/],
    ['no validators', { ...doc, validators: [] }, /validators must list/],
    [
      'a validator key that is not a key',
      { ...doc, validators: [{ name: 'v', publicKey: 'abc' }] },
      /validators\[0\]\.publicKey/,
    ],
    [
      'a validator listed twice',
      { ...doc, validators: [doc.validators[0], doc.validators[0]] },
      /appears twice/,
    ],
    ['no admins', { ...doc, admins: [] }, /admins must list/],
    ['a threshold of zero', { ...doc, approvalThreshold: 0 }, /approvalThreshold/],
    [
      'an unknown parameter',
      { ...doc, params: { ...doc.params, blockSize: 3 } },
      /params\.blockSize is not a known parameter/,
    ],
    [
      'a negative parameter',
      { ...doc, params: { ...doc.params, blockIntervalMs: -1 } },
      /params\.blockIntervalMs/,
    ],
  ]
  for (const [name, value, message] of faults) {
    it(`refuses ${name} with a sentence naming the field`, () => {
      const r = parseGenesis(typeof value === 'string' ? value : JSON.stringify(value))
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.error.message).toMatch(message)
    })
  }

  it('computes f and the quorum for committees of 1 to 10', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 10].map((n) => [faultTolerance(n), quorumSize(n)])).toEqual([
      [0, 1],
      [0, 2],
      [0, 3],
      [1, 3],
      [1, 4],
      [1, 5],
      [2, 5],
      [3, 7],
    ])
  })
})
