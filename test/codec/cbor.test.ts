import fc from 'fast-check'
import * as Digest from 'multiformats/hashes/digest'
import { describe, expect, it } from 'vitest'
import { fromHex } from '../../src/codec/bytes.js'
import { decodeCbor, encodeCbor } from '../../src/codec/cbor.js'
import { CID, cidOf, cidToString, parseCid } from '../../src/codec/cid.js'
import { array, bytes, literal, struct, tagged, text, uint } from '../../src/codec/schema.js'
import { CBOR_DEPTH_MAX } from '../../src/constants.js'

describe('codec: canonical DAG-CBOR', () => {
  it('round-trips values and sorts map keys the DAG-CBOR way (length first)', () => {
    const value = { zz: 1, a: [1, 2, { b: new Uint8Array([1, 2]) }], mm: 'text', n: null }
    const encoded = encodeCbor(value)
    const decoded = decodeCbor(encoded, 1024, { canonical: true })
    expect(decoded.ok && decoded.value).toEqual(value)
    expect(Object.keys(decoded.ok ? (decoded.value as object) : {})).toEqual(['a', 'n', 'mm', 'zz'])
  })

  it('refuses input over the limit before decoding it', () => {
    const r = decodeCbor(new Uint8Array(1025), 1024)
    expect(r.ok ? 'decoded' : r.error.code).toBe('too-large')
  })

  it('refuses a map whose keys are out of canonical order when canonical form is required', () => {
    const unsorted = fromHex('a2616201616102')! // {"b": 1, "a": 2}
    expect(decodeCbor(unsorted, 100).ok, 'plain decoding accepts it').toBe(true)
    const r = decodeCbor(unsorted, 100, { canonical: true })
    expect(r.ok ? 'decoded' : r.error.code).toBe('non-canonical')
  })

  it('refuses non-minimal integers, indefinite lengths, trailing bytes and empty input as malformed', () => {
    for (const h of ['1801', '9f01ff', '0101', '']) {
      const r = decodeCbor(fromHex(h)!, 100)
      expect(r.ok ? 'decoded' : r.error.code, h).toBe('malformed')
    }
  })

  it('reads undefined as null, so canonical decoding refuses it', () => {
    const r = decodeCbor(fromHex('f7')!, 100, { canonical: true })
    expect(r.ok ? 'decoded' : r.error.code).toBe('non-canonical')
  })

  it('never throws on random bytes (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (input) => {
        const r = decodeCbor(input, 256, { canonical: true })
        if (!r.ok) expect(r.error.message.length).toBeGreaterThan(0)
      }),
      { seed: 1, numRuns: 2000 },
    )
  })
})

/** `levels` arrays of one item each, around a 0: `[[[...[0]...]]]`. */
function nestedArrays(levels: number): Uint8Array {
  const bytes = new Uint8Array(levels + 1).fill(0x81)
  bytes[levels] = 0x00
  return bytes
}

/** `levels` maps of one entry each: `{"a": {"a": ... 0}}`. */
function nestedMaps(levels: number): Uint8Array {
  const bytes = new Uint8Array(levels * 3 + 1)
  for (let i = 0; i < levels; i++) bytes.set([0xa1, 0x61, 0x61], i * 3)
  return bytes
}

describe('codec: decoding is bounded in depth, items and declared lengths', () => {
  it('refuses nesting deeper than CBOR_DEPTH_MAX as too-deep, and accepts it at the limit', () => {
    expect(decodeCbor(nestedArrays(CBOR_DEPTH_MAX), 1024, { canonical: true }).ok).toBe(true)
    expect(decodeCbor(nestedMaps(CBOR_DEPTH_MAX), 1024, { canonical: true }).ok).toBe(true)
    for (const input of [nestedArrays(CBOR_DEPTH_MAX + 1), nestedMaps(CBOR_DEPTH_MAX + 1)]) {
      const r = decodeCbor(input, 1024, { canonical: true })
      expect(r.ok ? 'decoded' : r.error.code).toBe('too-deep')
    }
  })

  // Regression: a few KiB of nesting decoded, then overflowed the stack re-encoding it for the
  // canonical check, and the RangeError escaped every decoder of blocks, manifests and
  // transactions (found probing depths 3,000 to 7,000: arrays and maps both).
  it('answers thousands of levels of nesting with a typed error, never a RangeError', () => {
    for (const levels of [3_000, 4_000, 5_000, 6_000, 7_000, 100_000]) {
      for (const [shape, input] of [
        ['arrays', nestedArrays(levels)],
        ['maps', nestedMaps(levels)],
      ] as const) {
        for (const canonical of [false, true]) {
          let outcome: string
          try {
            const r = decodeCbor(input, 1 << 20, { canonical })
            outcome = r.ok ? 'decoded' : r.error.code
          } catch (cause) {
            outcome = `threw ${(cause as Error).name}`
          }
          expect(outcome, `${levels} levels of ${shape}, canonical ${canonical}`).toBe('too-deep')
        }
      }
    }
  })

  it('refuses more items than the limit before building them', () => {
    const many = new Uint8Array(3 + 2_000).fill(0x80) // an array of 2,000 empty arrays
    many.set([0x99, 0x07, 0xd0])
    expect(decodeCbor(many, 1 << 20).ok, 'within the default limit').toBe(true)
    const r = decodeCbor(many, 1 << 20, { itemsMax: 1_000 })
    expect(r.ok ? 'decoded' : r.error.code).toBe('too-large')
  })

  it('refuses a declared length past the end of the input from its header', () => {
    const cases: Array<[string, string]> = [
      ['5bffffffffffffffff', 'a byte string of 2^64-1 bytes'],
      ['7b0000000100000000', 'a text string of 2^32 bytes'],
      ['9bffffffffffffffff00', 'an array of 2^64-1 items'],
      ['ba7fffffff00', 'a map of 2^31-1 entries'],
      [`5a00010000${'00'.repeat(100)}`, 'a 65,536-byte string holding 100'],
    ]
    for (const [hex, what] of cases) {
      const r = decodeCbor(fromHex(hex)!, 1 << 20)
      expect(r.ok ? 'decoded' : r.error.code, what).toBe('malformed')
    }
  })
})

describe('codec: encoded bytes own their memory', () => {
  it('encodes to a plain Uint8Array of exactly its length, never a view into a shared pool, at every size', () => {
    for (const size of [10, 100, 200, 250, 300, 1_000, 3_000, 5_000]) {
      const encoded = encodeCbor({ release: cidOf({ a: 1 }), note: 'x'.repeat(size) })
      expect(Buffer.isBuffer(encoded), `${size}`).toBe(false)
      expect(encoded.byteOffset, `${size}`).toBe(0)
      expect(encoded.buffer.byteLength, `${size}`).toBe(encoded.byteLength)
      expect(decodeCbor(encoded, 8_192).ok, `${size}`).toBe(true)
    }
  })
})

describe('codec: CIDs', () => {
  it('writes CID strings exactly as multiformats does, on random values (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        const cid = cidOf({ b })
        expect(cidToString(cid)).toBe(cid.toString())
        expect(parseCid(cidToString(cid))?.equals(cid)).toBe(true)
      }),
      { seed: 2, numRuns: 300 },
    )
  })

  it('writes each CID string on its own, and long CIDs (past the scratch buffer) the generic way', () => {
    const a = cidOf({ a: 1 })
    const b = cidOf({ b: 2 })
    const first = cidToString(a)
    expect(cidToString(b)).toBe(b.toString())
    expect(first, 'an earlier string is not overwritten by the next').toBe(a.toString())
    const long = CID.createV1(0x71, Digest.create(0x00, new Uint8Array(200).fill(7)))
    expect(cidToString(long)).toBe(long.toString())
  })

  it('parses only CIDv1 over sha2-256', () => {
    expect(parseCid('QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG')).toBeUndefined()
    expect(parseCid('not a cid')).toBeUndefined()
  })
})

describe('codec: typed decoders', () => {
  const point = struct({ x: uint(100), y: uint(100) }, { label: text(8) })
  const shape = tagged({
    dot: struct({ type: literal('dot'), at: point }),
    path: struct({ type: literal('path'), points: array(point, 3, 1) }),
  })

  it('name the path and code of each kind of fault', () => {
    const cases: Array<[unknown, string, string]> = [
      [{ type: 'dot' }, 'missing-field', ''],
      [{ type: 'dot', at: { x: 1, y: 2 }, extra: 1 }, 'extra-field', ''],
      [{ type: 'dot', at: { x: 1, y: 'two' } }, 'wrong-type', 'at.y'],
      [{ type: 'dot', at: { x: 1, y: 101 } }, 'out-of-range', 'at.y'],
      [{ type: 'dot', at: { x: 1, y: 2, label: 'far too long' } }, 'out-of-range', 'at.label'],
      [{ type: 'path', points: [] }, 'out-of-range', 'points'],
      [{ type: 'path', points: [{ x: 1, y: 1 }, { x: 1 }] }, 'missing-field', 'points[1]'],
      [{ type: 'circle' }, 'unknown-type', ''],
      [[1, 2], 'wrong-type', ''],
      [new Uint8Array(2), 'wrong-type', ''],
    ]
    for (const [value, code, path] of cases) {
      const r = shape(value, '')
      expect(r.ok ? 'decoded' : [r.error.code, r.error.path], JSON.stringify(value)).toEqual([code, path])
    }
  })

  it('return a new object holding only the declared fields', () => {
    const r = shape({ type: 'dot', at: { x: 1, y: 2 } }, '')
    expect(r.ok && r.value).toEqual({ type: 'dot', at: { x: 1, y: 2 } })
    expect(bytes(2)(new Uint8Array(3), 'b').ok).toBe(false)
  })
})
