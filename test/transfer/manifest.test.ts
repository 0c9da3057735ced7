import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeCbor } from '../../src/codec/cbor.js'
import { cidOfEncoded } from '../../src/codec/cid.js'
import { sha256 } from '../../src/codec/hash.js'
import { CHUNK_BYTES_MIN, IMAGE_BYTES_MAX, MANIFEST_CHUNKS_MAX } from '../../src/constants.js'
import { manifestIdOf } from '../../src/ledger/manifest-id.js'
import { Prng } from '../../src/prng.js'
import {
  chunkCount,
  chunkHash,
  chunkLength,
  DEFAULT_MANIFEST_LIMITS,
  decodeManifest,
  encodeManifest,
  type Manifest,
  ManifestBuilder,
  manifestCid,
  manifestOfBytes,
  verifyChunk,
} from '../../src/transfer/manifest.js'

const CHUNK = CHUNK_BYTES_MIN
const image = Prng.fromSeed('manifest-test').bytes(3 * CHUNK + 1000)

/** A manifest's encoding with fields replaced (or, given undefined, left out). */
function record(m: Manifest, overrides: Record<string, unknown> = {}): Uint8Array {
  const fields: Record<string, unknown> = {
    type: m.type,
    version: m.version,
    imageSize: m.imageSize,
    chunkSize: m.chunkSize,
    imageSha256: m.imageSha256,
    chunkHashesSha256: m.chunkHashesSha256,
    chunkHashes: m.chunkHashes,
    ...overrides,
  }
  return encodeCbor(Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)))
}

describe('transfer: manifest', () => {
  it('transfer: manifest: lists the size, the chunk size, every chunk’s SHA-256 and the image’s', () => {
    const m = manifestOfBytes(image, CHUNK)
    expect(m.imageSize).toBe(image.byteLength)
    expect(m.chunkSize).toBe(CHUNK)
    expect(chunkCount(m)).toBe(4)
    expect(chunkLength(m, 3), 'the last chunk is the remainder').toBe(1000)
    expect(m.imageSha256).toEqual(sha256(image))
    for (let i = 0; i < 4; i++) {
      expect(chunkHash(m, i), `hash of chunk ${i}`).toEqual(
        sha256(image.subarray(i * CHUNK, (i + 1) * CHUNK)),
      )
    }
  })

  it('transfer: manifest: an image that is a whole number of chunks has no empty last chunk', () => {
    const m = manifestOfBytes(image.subarray(0, 2 * CHUNK), CHUNK)
    expect(chunkCount(m)).toBe(2)
    expect(chunkLength(m, 1)).toBe(CHUNK)
  })

  it('transfer: manifest: round-trips through canonical DAG-CBOR; its id is the CID of its header, which commits the chunk list by its SHA-256', () => {
    const m = manifestOfBytes(image, CHUNK)
    expect(m.version).toBe(2)
    expect(m.chunkHashesSha256).toEqual(sha256(m.chunkHashes))
    const { chunkHashes: _, ...header } = m
    expect(manifestCid(m).equals(cidOfEncoded(encodeCbor(header)))).toBe(true)
    const encoded = encodeManifest(m)
    expect(encoded).toEqual(encodeCbor(m))
    const back = decodeManifest(encoded, { expectedCid: manifestCid(m) })
    expect(back.ok && back.value).toEqual(m)
  })

  it('transfer: manifest: its id is the one the release’s fields make, which the ledger checks', () => {
    const m = manifestOfBytes(image, CHUNK)
    const release = {
      imageSize: m.imageSize,
      chunkSize: m.chunkSize,
      imageSha256: m.imageSha256,
      chunkHashesSha256: m.chunkHashesSha256,
    }
    expect(manifestIdOf(release).equals(manifestCid(m))).toBe(true)
    for (const [field, patch] of [
      ['imageSize', { imageSize: m.imageSize + 1 }],
      ['chunkSize', { chunkSize: m.chunkSize * 2 }],
      ['imageSha256', { imageSha256: new Uint8Array(32) }],
      ['chunkHashesSha256', { chunkHashesSha256: new Uint8Array(32) }],
    ] as const) {
      expect(manifestIdOf({ ...release, ...patch }).equals(manifestCid(m)), field).toBe(false)
    }
  })

  it('transfer: manifest: refuses the manifest of another release (cid-mismatch)', () => {
    const m = manifestOfBytes(image, CHUNK)
    const other = manifestOfBytes(image.subarray(1), CHUNK)
    const r = decodeManifest(encodeManifest(m), { expectedCid: manifestCid(other) })
    expect(r.ok ? undefined : r.error.code).toBe('cid-mismatch')
    if (!r.ok) expect(r.error.message).toContain(manifestCid(other).toString())
  })

  it('transfer: manifest: refuses the release’s header with a chunk list it does not commit (chunk-hashes-mismatch)', () => {
    const m = manifestOfBytes(image, CHUNK)
    const wrong = new Uint8Array(m.chunkHashes)
    wrong[40] = wrong[40]! ^ 1
    for (const [what, chunkHashes] of [
      ['one bit flipped', wrong],
      ['another image’s list of as many chunks', manifestOfBytes(image.subarray(1), CHUNK).chunkHashes],
      [
        'the chunks in another order',
        new Uint8Array([...m.chunkHashes.subarray(32), ...m.chunkHashes.subarray(0, 32)]),
      ],
    ] as const) {
      const r = decodeManifest(record(m, { chunkHashes }), { expectedCid: manifestCid(m) })
      expect(r.ok ? 'accepted' : r.error.code, what).toBe('chunk-hashes-mismatch')
    }
  })

  const m = manifestOfBytes(image, CHUNK)
  const cases: [string, Uint8Array, string][] = [
    [
      'a hash list one hash short',
      record(m, { chunkHashes: m.chunkHashes.subarray(32) }),
      'chunk-count-mismatch',
    ],
    [
      'a hash list one hash long',
      record(m, { chunkHashes: new Uint8Array([...m.chunkHashes, ...new Uint8Array(32)]) }),
      'chunk-count-mismatch',
    ],
    [
      'a hash list not made of whole hashes',
      record(m, { chunkHashes: m.chunkHashes.subarray(1) }),
      'chunk-count-mismatch',
    ],
    ['an image over the size limit', record(m, { imageSize: IMAGE_BYTES_MAX + 1 }), 'out-of-range'],
    ['an empty image', record(m, { imageSize: 0 }), 'out-of-range'],
    ['a chunk size under the minimum', record(m, { chunkSize: CHUNK_BYTES_MIN - 1 }), 'out-of-range'],
    ['an image hash of the wrong length', record(m, { imageSha256: new Uint8Array(31) }), 'out-of-range'],
    ['version 1 (its id was the hash of the whole list)', record(m, { version: 1 }), 'out-of-range'],
    ['an unknown version', record(m, { version: 3 }), 'out-of-range'],
    [
      'a chunk-list digest of the wrong length',
      record(m, { chunkHashesSha256: new Uint8Array(31) }),
      'out-of-range',
    ],
    ['no chunk-list digest', record(m, { chunkHashesSha256: undefined }), 'missing-field'],
    ['an extra field', record(m, { note: 'hi' }), 'extra-field'],
    [
      'a missing field',
      encodeCbor({ type: m.type, version: 2, imageSize: 1, chunkSize: CHUNK }),
      'missing-field',
    ],
    ['bytes that are not CBOR', new Uint8Array([0xff, 0x00, 0x01]), 'malformed'],
    ['a truncated encoding', encodeManifest(m).subarray(0, 100), 'malformed'],
    ['an oversized input', new Uint8Array(MANIFEST_CHUNKS_MAX * 32 + 2048), 'too-large'],
  ]
  it.each(cases)('transfer: manifest: decoding refuses %s', (_name, bytes, code) => {
    const r = decodeManifest(bytes)
    expect(r.ok ? 'accepted' : r.error.code).toBe(code)
  })

  it('transfer: manifest: decoding refuses a non-canonical encoding (its CID would differ)', () => {
    // The same map with its keys in reverse order: valid CBOR, same value, other bytes.
    const entries = Object.entries({
      type: m.type,
      version: m.version,
      imageSize: m.imageSize,
      chunkSize: m.chunkSize,
      imageSha256: m.imageSha256,
      chunkHashesSha256: m.chunkHashesSha256,
      chunkHashes: m.chunkHashes,
    })
    const pairs = entries.map(([k, v]) => encodeCbor({ [k]: v }).subarray(1)).reverse()
    const unsorted = new Uint8Array([0xa7, ...pairs.flatMap((p) => [...p])])
    expect(unsorted).not.toEqual(encodeManifest(m))
    const r = decodeManifest(unsorted)
    expect(r.ok ? 'accepted' : r.error.code).toBe('non-canonical')
  })

  it('transfer: manifest: decoding refuses more chunks than the manifest limit', () => {
    const limits = { ...DEFAULT_MANIFEST_LIMITS, chunksMax: 3 }
    // Three hashes fit the list's bound, but the size says four chunks.
    const r = decodeManifest(record(m, { chunkHashes: m.chunkHashes.subarray(0, 96) }), { limits })
    expect(r.ok ? 'accepted' : r.error.code).toBe('too-many-chunks')
  })

  it('transfer: manifest: decoding never throws on random bytes or random CBOR', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        expect(decodeManifest(bytes).ok).toBe(false)
      }),
    )
    fc.assert(
      fc.property(fc.anything(), (value) => {
        let bytes: Uint8Array
        try {
          bytes = encodeCbor(value)
        } catch {
          return
        }
        expect(decodeManifest(bytes).ok).toBe(false)
      }),
    )
  })

  it('transfer: manifest: a chunk verifies only with exactly its bytes', () => {
    const chunk1 = image.subarray(CHUNK, 2 * CHUNK)
    expect(verifyChunk(m, 1, chunk1)).toBe('ok')
    expect(verifyChunk(m, 1, chunk1.subarray(0, CHUNK - 1))).toBe('truncated')
    expect(verifyChunk(m, 1, new Uint8Array([...chunk1, 0]))).toBe('bad-hash')
    const flipped = new Uint8Array(chunk1)
    flipped[77] = flipped[77]! ^ 1
    expect(verifyChunk(m, 1, flipped)).toBe('bad-hash')
    expect(verifyChunk(m, 2, chunk1), 'the right bytes at the wrong index').toBe('bad-hash')
    expect(verifyChunk(m, 4, chunk1), 'an index past the end').toBe('bad-hash')
    expect(verifyChunk(m, 3, image.subarray(3 * CHUNK))).toBe('ok')
  })

  it('transfer: manifest: the builder refuses a short chunk anywhere but last', () => {
    const b = new ManifestBuilder(CHUNK)
    b.add(image.subarray(0, 10))
    expect(() => b.add(image.subarray(0, CHUNK))).toThrow(/only the last chunk/)
  })
})
