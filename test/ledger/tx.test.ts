import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeCbor } from '../../src/codec/cbor.js'
import { decodeBlock, makeBlock } from '../../src/ledger/block.js'
import { certify, decodeCertificate, encodeCertificate } from '../../src/ledger/certificate.js'
import { makeDevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import { encodeGenesis, genesisToJson, parseGenesis } from '../../src/ledger/genesis.js'
import { decodeTx, encodeEnvelope, type SignedTx, verifyTxSignature } from '../../src/ledger/tx.js'

const chain = makeDevChain({ seed: 'tx' })
const f = new TxFactory(chain)
const device = chain.key('device')
const hash = new Uint8Array(32).fill(2)
const release = f.publish({
  product: 'gw',
  version: '3.1.4-beta.2+build.7',
  hardware: ['rev-a', 'rev-b'],
  imageSize: 123_456,
  imageSha256: hash,
  minFrom: '3.0.0',
  rollout: {
    start: 5,
    waves: [
      { percent: 5, afterMs: 0 },
      { percent: 100, afterMs: 86_400_000 },
    ],
  },
})

/** One transaction of every type. */
const everyType: SignedTx[] = [
  f.grantRole(chain.publisher.publicKey, 'publisher', ['gw', '*']),
  f.revokeRole(chain.registrar.publicKey, 'registrar'),
  f.registerDevice(device.publicKey, 'gw', 'rev-a', ['eu', 'canary']),
  release,
  f.approve(release.id, chain.approvers[0]!),
  f.revoke(release.id, 'bad radio calibration'),
  f.report(device, release.id, 'failed', hash, 42, 'install hook exited with 3'),
]

describe('ledger: transaction encoding', () => {
  it('round-trips every transaction type with its id, body and signature', () => {
    expect(new Set(everyType.map((t) => t.body.type)).size).toBe(7)
    for (const tx of everyType) {
      const decoded = decodeTx(tx.bytes)
      if (!decoded.ok) throw new Error(`${tx.body.type}: ${decoded.error.message}`)
      expect(decoded.value.idString, tx.body.type).toBe(tx.idString)
      expect(decoded.value.body, tx.body.type).toEqual(tx.body)
      expect(verifyTxSignature(decoded.value), tx.body.type).toBe(true)
    }
  })

  it('builds the envelope by hand exactly as DAG-CBOR would', () => {
    for (const tx of everyType) {
      const byHand = encodeEnvelope(tx.bodyBytes, tx.signature)
      const byCodec = encodeCbor({ body: tx.bodyBytes, sig: tx.signature })
      expect(Buffer.compare(byHand, byCodec), tx.body.type).toBe(0)
    }
  })

  it('round-trips blocks, certificates and genesis', () => {
    const block = makeBlock(
      {
        chain: chain.genesis.chainId,
        height: 1,
        prev: null,
        time: 9,
        proposer: 1,
        stateRoot: new Uint8Array(32),
      },
      everyType,
    )
    const decoded = decodeBlock(block.bytes)
    expect(decoded.ok && decoded.value.hashString).toBe(block.hashString)
    expect(decoded.ok && decoded.value.txs.map((t) => t.idString)).toEqual(everyType.map((t) => t.idString))
    const cert = certify(
      chain.genesis,
      new Map(chain.validators.map((v, i) => [i, v.secretKey])),
      1,
      3,
      block.hash,
    )
    const certBack = decodeCertificate(encodeCertificate(cert))
    expect(certBack.ok && certBack.value).toEqual(cert)
    const genesisBack = parseGenesis(genesisToJson(chain.genesis))
    expect(genesisBack.ok && encodeGenesis(genesisBack.value)).toEqual(encodeGenesis(chain.genesis))
  })

  it('makes a signed transaction invalid when any single bit of it is flipped', () => {
    for (const tx of [everyType[3]!, everyType[6]!]) {
      for (let bit = 0; bit < tx.bytes.length * 8; bit++) {
        const flipped = new Uint8Array(tx.bytes)
        flipped[bit >> 3]! ^= 1 << (bit & 7)
        const decoded = decodeTx(flipped)
        const valid = decoded.ok && verifyTxSignature(decoded.value)
        expect(valid, `${tx.body.type}, bit ${bit}`).toBe(false)
      }
    }
  })

  it('never crashes on random bytes, and nothing random verifies (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (input) => {
        const decoded = decodeTx(input)
        if (decoded.ok) expect(verifyTxSignature(decoded.value)).toBe(false)
      }),
      { seed: 3, numRuns: 3000 },
    )
  })

  it('never crashes on mutations of valid encodings (cuts, insertions, overwrites), and no mutation verifies (fast-check)', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
      }),
      fc.record({
        kind: fc.constant('overwrite' as const),
        at: fc.nat(),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
      }),
    )
    fc.assert(
      fc.property(fc.nat(everyType.length - 1), mutation, (which, m) => {
        const original = everyType[which]!.bytes
        const at = m.at % original.length
        let mutated: Uint8Array
        if (m.kind === 'cut') mutated = original.slice(0, at)
        else if (m.kind === 'insert')
          mutated = new Uint8Array([...original.slice(0, at), ...m.bytes, ...original.slice(at)])
        else {
          mutated = new Uint8Array(original)
          mutated.set(m.bytes.slice(0, original.length - at), at)
        }
        if (Buffer.compare(mutated, original) === 0) return
        const decoded = decodeTx(mutated)
        if (decoded.ok) expect(verifyTxSignature(decoded.value)).toBe(false)
      }),
      { seed: 4, numRuns: 3000 },
    )
  })

  it('never crashes the block decoder on random bytes or cut blocks', () => {
    const block = makeBlock(
      {
        chain: chain.genesis.chainId,
        height: 1,
        prev: null,
        time: 9,
        proposer: 1,
        stateRoot: new Uint8Array(32),
      },
      everyType,
    )
    for (let cut = 0; cut < block.bytes.length; cut += 7) {
      const r = decodeBlock(block.bytes.slice(0, cut))
      expect(r.ok, `cut at ${cut}`).toBe(false)
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (input) => {
        const r = decodeBlock(input)
        if (!r.ok) expect(r.error.code).toBeTypeOf('string')
      }),
      { seed: 5, numRuns: 2000 },
    )
  })

  it('refuses to sign a body its own decoder would refuse', () => {
    expect(() => f.publish({ ...release.body, hardware: ['has space'] } as never)).toThrow(
      /not a valid transaction/,
    )
  })
})
