import { describe, expect, it } from 'vitest'
import { signPrepare } from '../../simulations/consensus/forge.js'
import {
  decodeSafetyRecord,
  EMPTY_SAFETY_RECORD,
  encodeSafetyRecord,
  type SafetyRecord,
} from '../../src/consensus/safety.js'
import { makeBlock } from '../../src/ledger/block.js'
import { makeDevChain } from '../../src/ledger/dev-chain.js'

const chain = makeDevChain({ seed: 'consensus-safety', validators: 4 })
const g = chain.genesis
const block = makeBlock(
  { chain: g.chainId, height: 3, prev: null, time: g.time, proposer: 1, stateRoot: new Uint8Array(32) },
  [],
)

describe('consensus: safety record', () => {
  it('round-trips through its canonical encoding, with and without a prepared block', () => {
    const full: SafetyRecord = {
      view: 7,
      changing: false,
      signed: { height: 3, view: 7, prepare: block.hash, commit: null },
      prepared: {
        proof: {
          height: 3,
          view: 6,
          block: block.hash,
          votes: [0, 1, 2].map((v) => ({
            validator: v,
            sig: signPrepare(chain.validators[v]!.secretKey, g.chainId, 3, 6, block.hash),
          })),
        },
        block,
      },
      newViewSent: 5,
      decision: { view: 7, height: 3, block: block.hashString, headFrom: 2 },
    }
    for (const record of [EMPTY_SAFETY_RECORD, full]) {
      const decoded = decodeSafetyRecord(encodeSafetyRecord(record))
      if (!decoded.ok) throw new Error(decoded.error.message)
      expect(encodeSafetyRecord(decoded.value), `view ${record.view}`).toEqual(encodeSafetyRecord(record))
      expect(decoded.value.prepared?.block.hashString, `view ${record.view}`).toBe(
        record.prepared?.block.hashString,
      )
    }
  })

  it('refuses a damaged record instead of starting from a wrong one', () => {
    const bytes = encodeSafetyRecord(EMPTY_SAFETY_RECORD)
    expect(decodeSafetyRecord(bytes.subarray(0, bytes.byteLength - 1)).ok).toBe(false)
    expect(decodeSafetyRecord(new Uint8Array([0xa0])).ok).toBe(false)
  })
})
