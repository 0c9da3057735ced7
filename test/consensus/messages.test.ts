import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { signCommit, signPrepare } from '../../simulations/consensus/forge.js'
import { encodeCbor } from '../../src/codec/cbor.js'
import {
  DEFAULT_CODEC_LIMITS,
  decode,
  encode,
  type Msg,
  prepareStatement,
  type ViewChange,
  viewChangeStatement,
} from '../../src/consensus/messages.js'
import { SigningDomain } from '../../src/crypto/domains.js'
import { sign, verify } from '../../src/crypto/ed25519.js'
import { makeBlock } from '../../src/ledger/block.js'
import { certify, verifyCertificate } from '../../src/ledger/certificate.js'
import { makeDevChain, TxFactory } from '../../src/ledger/dev-chain.js'

const chain = makeDevChain({ seed: 'consensus-messages', validators: 4 })
const f = new TxFactory(chain)
const g = chain.genesis
const keys = new Map(chain.validators.map((v, i) => [i, v.secretKey]))
const tx = f.registerDevice(chain.key('d').publicKey, 'gw', 'rev-a', ['eu'], chain.admin)
const block1 = makeBlock(
  { chain: g.chainId, height: 1, prev: null, time: g.time + 5, proposer: 0, stateRoot: new Uint8Array(32) },
  [tx],
)
const cert1 = certify(g, keys, 1, 0, block1.hash)
const block2 = makeBlock(
  {
    chain: g.chainId,
    height: 2,
    prev: block1.hash,
    time: g.time + 9,
    proposer: 1,
    stateRoot: new Uint8Array(32),
  },
  [],
)
const cert2 = certify(g, new Map([...keys].slice(0, 3)), 2, 3, block2.hash)
const sk0 = chain.validators[0]!.secretKey

const vcFields = {
  view: 4,
  validator: 2,
  head: { height: 1, block: block1.hash, cert: cert1 },
  prepared: {
    height: 2,
    view: 3,
    block: block2.hash,
    votes: [0, 1, 2].map((i) => ({
      validator: i,
      sig: signPrepare(keys.get(i)!, g.chainId, 2, 3, block2.hash),
    })),
  },
}
const viewChange: ViewChange = {
  type: 'view-change',
  ...vcFields,
  sig: sign(keys.get(2)!, SigningDomain.consensus, viewChangeStatement(g.chainId, vcFields)),
  preparedBlock: block2,
}
const { preparedBlock: _, ...bareViewChange } = viewChange

/** One message of every type. */
const everyType: Msg[] = [
  {
    type: 'pre-prepare',
    view: 0,
    height: 1,
    validator: 0,
    block: block1,
    sig: signPrepare(sk0, g.chainId, 1, 0, block1.hash),
  },
  {
    type: 'prepare',
    view: 0,
    height: 1,
    block: block1.hash,
    validator: 1,
    sig: signPrepare(keys.get(1)!, g.chainId, 1, 0, block1.hash),
  },
  {
    type: 'commit',
    view: 0,
    height: 1,
    block: block1.hash,
    validator: 1,
    sig: signCommit(keys.get(1)!, g.chainId, 1, 0, block1.hash),
  },
  viewChange,
  { type: 'new-view', view: 4, validator: 0, viewChanges: [bareViewChange], sig: new Uint8Array(64).fill(7) },
  { type: 'tx', tx },
  { type: 'status', height: 12, view: 3 },
  { type: 'sync-request', height: 5, count: 64 },
  {
    type: 'sync-response',
    blocks: [
      { block: block1, cert: cert1 },
      { block: block2, cert: cert2 },
    ],
  },
  { type: 'block', block: block2, cert: cert2 },
]

/** A comparable picture of a message: blocks and transactions by their bytes. */
function picture(msg: Msg): unknown {
  return JSON.parse(
    JSON.stringify(msg, (_k, v) => {
      if (v && typeof v === 'object' && 'hashString' in v && 'bytes' in v)
        return { block: Buffer.from(v.bytes).toString('hex') }
      if (v && typeof v === 'object' && 'idString' in v) return { tx: v.idString }
      if (v instanceof Uint8Array) return Buffer.from(v).toString('hex')
      if (v && typeof v === 'object' && typeof v.toV1 === 'function') return v.toString()
      return v
    }),
  )
}

describe('consensus: messages: codec', () => {
  it('round-trips a message of every type', () => {
    expect(new Set(everyType.map((m) => m.type)).size).toBe(10)
    for (const msg of everyType) {
      const decoded = decode(encode(msg))
      if (!decoded.ok) throw new Error(`${msg.type}: ${decoded.error.message}`)
      expect(picture(decoded.value), msg.type).toEqual(picture(msg))
    }
  })

  it('decodes a block inside a pre-prepare to the same hash, so signatures still check', () => {
    const decoded = decode(encode(everyType[0]!))
    if (!decoded.ok || decoded.value.type !== 'pre-prepare') throw new Error('not a pre-prepare')
    expect(decoded.value.block.hashString).toBe(block1.hashString)
    const pub = g.validators[0]!.publicKey
    expect(
      verify(
        pub,
        SigningDomain.consensus,
        prepareStatement(g.chainId, 1, 0, decoded.value.block.hash),
        decoded.value.sig,
      ),
    ).toBe(true)
  })

  it('carries certificates whose commit votes verify as the block certificate', () => {
    const decoded = decode(encode({ type: 'block', block: block2, cert: cert2 }))
    if (!decoded.ok || decoded.value.type !== 'block') throw new Error('not a block')
    expect(verifyCertificate(g, decoded.value.cert, 2, block2.hash)).toBeUndefined()
  })

  it('strips the carried block from view changes inside a NEW-VIEW', () => {
    const decoded = decode(
      encode({ type: 'new-view', view: 4, validator: 0, viewChanges: [viewChange], sig: new Uint8Array(64) }),
    )
    if (!decoded.ok || decoded.value.type !== 'new-view') throw new Error('not a new-view')
    expect(decoded.value.viewChanges[0]!.preparedBlock).toBeUndefined()
  })

  it('reuses transactions the receiver already holds, and only when their bytes are identical', () => {
    const pp = everyType[0]!
    const plain = decode(encode(pp))
    const reused = decode(encode(pp), DEFAULT_CODEC_LIMITS, { knownTx: () => tx })
    if (
      !plain.ok ||
      !reused.ok ||
      plain.value.type !== 'pre-prepare' ||
      reused.value.type !== 'pre-prepare'
    ) {
      throw new Error('not a pre-prepare')
    }
    expect(reused.value.block.txs[0]).toBe(tx)
    expect(reused.value.block.hashString).toBe(plain.value.block.hashString)
    // A candidate with other bytes (the same body, another signature) is not taken.
    const impostor = { ...tx, signature: new Uint8Array(64), bytes: new Uint8Array(tx.bytes.byteLength) }
    const guarded = decode(encode(pp), DEFAULT_CODEC_LIMITS, { knownTx: () => impostor })
    if (!guarded.ok || guarded.value.type !== 'pre-prepare') throw new Error('not a pre-prepare')
    expect(guarded.value.block.txs[0]).not.toBe(impostor)
    expect(Buffer.compare(guarded.value.block.txs[0]!.bytes, tx.bytes)).toBe(0)
    // The same limits and checks apply as without reuse.
    expect(decode(encode(pp).subarray(0, 40), DEFAULT_CODEC_LIMITS, { knownTx: () => tx }).ok).toBe(false)
  })

  it('reuses a relayed transaction the receiver already holds, only when its bytes are identical', () => {
    const relayed = encode({ type: 'tx', tx })
    const reused = decode(relayed, DEFAULT_CODEC_LIMITS, { knownTx: () => tx })
    if (!reused.ok || reused.value.type !== 'tx') throw new Error('not a tx')
    expect(reused.value.tx).toBe(tx)
    const impostor = { ...tx, bytes: new Uint8Array(tx.bytes.byteLength) }
    const guarded = decode(relayed, DEFAULT_CODEC_LIMITS, { knownTx: () => impostor })
    if (!guarded.ok || guarded.value.type !== 'tx') throw new Error('not a tx')
    expect(guarded.value.tx).not.toBe(impostor)
    expect(guarded.value.tx.idString).toBe(tx.idString)
  })

  it('refuses every truncation of every message type with a typed error', () => {
    for (const msg of everyType) {
      const bytes = encode(msg)
      // Every prefix of a small message; a sample of prefixes of larger ones.
      const step = Math.max(1, Math.floor(bytes.byteLength / 97))
      for (let cut = 0; cut < bytes.byteLength; cut += step) {
        const r = decode(bytes.subarray(0, cut))
        expect(r.ok, `${msg.type} cut at ${cut}`).toBe(false)
      }
    }
  })

  it('refuses input over the size limit before parsing it', () => {
    const limits = { ...DEFAULT_CODEC_LIMITS, messageBytesMax: 100, syncResponseBytesMax: 100 }
    const r = decode(encode(everyType[0]!), limits)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.error.code).toBe('too-large')
  })

  it('refuses a sync response with more blocks than the limit', () => {
    const limits = { ...DEFAULT_CODEC_LIMITS, syncBlocksMax: 1 }
    const r = decode(encode(everyType[8]!), limits)
    expect(r.ok).toBe(false)
  })

  it('refuses an unknown type, a missing field and an extra field', () => {
    const cases: [string, unknown][] = [
      ['unknown-type', { type: 'gossip-v2', x: 1 }],
      ['missing-field', { type: 'status', height: 1 }],
      ['extra-field', { type: 'status', height: 1, view: 0, x: 2 }],
      [
        'out-of-range',
        { type: 'prepare', view: 0, height: 0, block: block1.hash, validator: 1, sig: new Uint8Array(64) },
      ],
      ['out-of-range', { type: 'sync-request', height: 1, count: 100_000 }],
      [
        'out-of-range',
        { type: 'commit', view: 0, height: 1, block: block1.hash, validator: 64, sig: new Uint8Array(64) },
      ],
    ]
    for (const [code, value] of cases) {
      const r = decode(encodeCbor(value))
      expect(
        r.ok,
        JSON.stringify(value, (_k, v) => (v instanceof Uint8Array ? 'bytes' : v)),
      ).toBe(false)
      if (!r.ok) expect(r.error.code, code).toBe(code)
    }
  })

  it('refuses a pre-prepare whose block bytes are not a valid block', () => {
    const r = decode(
      encodeCbor({
        type: 'pre-prepare',
        view: 0,
        height: 1,
        validator: 0,
        block: new Uint8Array([1, 2, 3]),
        sig: new Uint8Array(64),
      }),
    )
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.error.path).toBe('block')
  })

  it('never throws on generated garbage, and never accepts most of it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const r = decode(bytes)
        if (r.ok) expect(typeof r.value.type, 'a decoded message has a type').toBe('string')
      }),
      { numRuns: 2000, seed: 42 },
    )
  })

  it('never throws on generated CBOR values shaped almost like messages', () => {
    const tags = everyType.map((m) => m.type)
    const value = fc.record(
      {
        type: fc.constantFrom(...tags),
        view: fc.oneof(fc.nat(), fc.integer(), fc.string()),
        height: fc.oneof(fc.nat(), fc.constant(-1)),
        validator: fc.nat({ max: 100 }),
        sig: fc.uint8Array({ maxLength: 80 }),
        block: fc.uint8Array({ maxLength: 40 }),
        blocks: fc.array(fc.record({ block: fc.uint8Array({ maxLength: 8 }) }), { maxLength: 3 }),
      },
      { requiredKeys: ['type'] },
    )
    fc.assert(
      fc.property(value, (v) => {
        const r = decode(encodeCbor(v))
        if (r.ok) expect(tags, 'a decoded message has a known type').toContain(r.value.type)
      }),
      { numRuns: 1000, seed: 7 },
    )
  })

  it('flips of single bits in a signed vote make it undecodable or leave a signature that fails', () => {
    const vote = everyType[2]!
    const bytes = encode(vote)
    const pub = g.validators[1]!.publicKey
    for (let i = 0; i < bytes.byteLength; i += 3) {
      const copy = new Uint8Array(bytes)
      copy[i]! ^= 0x01
      const r = decode(copy)
      if (!r.ok || r.value.type !== 'commit') continue
      const m = r.value
      const same = Buffer.compare(encode(m), bytes) === 0
      const verifies = verify(
        g.validators[m.validator]?.publicKey ?? pub,
        SigningDomain.commit,
        encodeCbor({ chain: g.chainId, height: m.height, view: m.view, block: m.block }),
        m.sig,
      )
      expect(same || !verifies, `bit flip at byte ${i}`).toBe(true)
    }
  })
})

describe('consensus: messages: hostile nesting', () => {
  // Regression: a gossiped block whose bytes were a few thousand nested arrays decoded, then
  // overflowed the stack in the canonical check, and the RangeError escaped `decode` (and the
  // gossip listener that called it).
  it('a block, pre-prepare or transaction of thousands of nested arrays is a typed too-deep rejection', () => {
    const deep = new Uint8Array(4_001).fill(0x81)
    deep[4_000] = 0x00
    const cases: Array<[string, unknown]> = [
      ['block', { type: 'block', block: deep, cert: cert1 }],
      ['pre-prepare', { ...(everyType[0] as object), block: deep }],
      ['tx', { type: 'tx', tx: deep }],
    ]
    for (const [name, wire] of cases) {
      let outcome: string
      try {
        const r = decode(encodeCbor(wire))
        outcome = r.ok ? 'decoded' : `${r.error.code} at ${r.error.path}`
      } catch (cause) {
        outcome = `threw ${(cause as Error).name}`
      }
      expect(outcome, name).toMatch(/^too-deep/)
    }
  })
})
