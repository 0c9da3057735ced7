import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeCbor } from '../../src/codec/cbor.js'
import { cidOf } from '../../src/codec/cid.js'
import {
  CHUNK_BYTES_MAX,
  HAVE_UPDATE_CHUNKS_MAX,
  MANIFEST_BYTES_MAX,
  MANIFEST_CHUNKS_MAX,
} from '../../src/constants.js'
import {
  type ChunkMessage,
  chunkProtocolId,
  decodeChunkMessage,
  encodeChunkMessage,
} from '../../src/transfer/messages.js'

const manifest = cidOf({ a: 1 })

const samples: ChunkMessage[] = [
  { type: 'have', manifest, bitfield: new Uint8Array([0xff, 0x80]) },
  { type: 'have-update', manifest, chunks: [0, 5, MANIFEST_CHUNKS_MAX - 1] },
  { type: 'request', manifest, chunk: 7 },
  { type: 'chunk', manifest, chunk: 7, data: new Uint8Array([1, 2, 3]) },
  { type: 'not-found', manifest, chunk: 7, reason: 'not-held' },
  { type: 'not-found', manifest, chunk: 8, reason: 'busy' },
  { type: 'cancel', manifest, chunk: 7 },
  { type: 'manifest-request', manifest },
  { type: 'manifest', manifest, bytes: new Uint8Array([0xa1, 0x61, 0x61, 0x01]) },
]

function code(bytes: Uint8Array): string {
  const r = decodeChunkMessage(bytes)
  return r.ok ? 'accepted' : r.error.code
}

describe('transfer: messages', () => {
  it('transfer: messages: the protocol id carries the chain and a version', () => {
    expect(chunkProtocolId('main')).toBe('/fwmesh/main/chunks/1')
  })

  it.each(samples.map((m) => [`${m.type}${m.type === 'not-found' ? ` (${m.reason})` : ''}`, m] as const))(
    'transfer: messages: a %s message round-trips',
    (_name, msg) => {
      const back = decodeChunkMessage(encodeChunkMessage(msg))
      expect(back.ok && back.value).toEqual(msg)
    },
  )

  it('transfer: messages: every truncation of a message is refused', () => {
    for (const msg of samples) {
      const bytes = encodeChunkMessage(msg)
      for (let n = 0; n < bytes.byteLength; n++) {
        expect(decodeChunkMessage(bytes.subarray(0, n)).ok, `${msg.type} cut at ${n}`).toBe(false)
      }
    }
  })

  it('transfer: messages: a chunk of the largest size passes and one byte more is refused', () => {
    const big: ChunkMessage = { type: 'chunk', manifest, chunk: 0, data: new Uint8Array(CHUNK_BYTES_MAX) }
    expect(code(encodeChunkMessage(big))).toBe('accepted')
    const over = encodeCbor({ ...big, data: new Uint8Array(CHUNK_BYTES_MAX + 1) })
    expect(code(over)).toBe('out-of-range')
  })

  it('transfer: messages: a manifest of the largest size passes and one byte more is refused', () => {
    const big: ChunkMessage = { type: 'manifest', manifest, bytes: new Uint8Array(MANIFEST_BYTES_MAX) }
    expect(code(encodeChunkMessage(big))).toBe('accepted')
    expect(code(encodeCbor({ ...big, bytes: new Uint8Array(MANIFEST_BYTES_MAX + 1) }))).toBe('out-of-range')
  })

  it('transfer: messages: a frame over the chunk message limit is refused before parsing', () => {
    expect(code(new Uint8Array(CHUNK_BYTES_MAX + 2048))).toBe('too-large')
  })

  it('transfer: messages: a control message padded past its limit is refused', () => {
    const bitfield = new Uint8Array(MANIFEST_CHUNKS_MAX / 8)
    expect(code(encodeCbor({ type: 'have', manifest, bitfield }))).toBe('accepted')
    expect(
      code(encodeCbor({ type: 'have', manifest, bitfield: new Uint8Array(bitfield.byteLength + 1) })),
    ).toBe('out-of-range')
    // A request smuggling a large payload in an unknown field is refused too.
    expect(code(encodeCbor({ type: 'request', manifest, chunk: 1, pad: new Uint8Array(20_000) }))).toBe(
      'extra-field',
    )
  })

  const bad: [string, unknown, string][] = [
    ['an unknown type', { type: 'gossip', manifest }, 'unknown-type'],
    ['a missing type', { manifest, chunk: 1 }, 'missing-field'],
    [
      'a chunk index past the protocol limit',
      { type: 'request', manifest, chunk: MANIFEST_CHUNKS_MAX },
      'out-of-range',
    ],
    ['a negative chunk index', { type: 'cancel', manifest, chunk: -1 }, 'out-of-range'],
    ['a fractional chunk index', { type: 'cancel', manifest, chunk: 1.5 }, 'wrong-type'],
    ['an empty have-update', { type: 'have-update', manifest, chunks: [] }, 'out-of-range'],
    [
      'a have-update over its limit',
      { type: 'have-update', manifest, chunks: new Array(HAVE_UPDATE_CHUNKS_MAX + 1).fill(1) },
      'out-of-range',
    ],
    [
      'an unknown not-found reason',
      { type: 'not-found', manifest, chunk: 1, reason: 'nope' },
      'out-of-range',
    ],
    ['a manifest that is not a CID', { type: 'request', manifest: 'bafy', chunk: 1 }, 'wrong-type'],
    ['an empty bitfield', { type: 'have', manifest, bitfield: new Uint8Array(0) }, 'out-of-range'],
    ['a list at the top', [1, 2, 3], 'wrong-type'],
  ]
  it.each(bad)('transfer: messages: decoding refuses %s', (_name, value, expected) => {
    expect(code(encodeCbor(value))).toBe(expected)
  })

  it('transfer: messages: decoding never throws on random bytes or random CBOR', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        decodeChunkMessage(bytes)
      }),
    )
    fc.assert(
      fc.property(
        fc.record({
          type: fc.constantFrom('have', 'have-update', 'request', 'chunk', 'not-found', 'cancel', 'x'),
          manifest: fc.oneof(fc.constant(manifest), fc.anything()),
          chunk: fc.oneof(fc.integer(), fc.anything()),
          data: fc.oneof(fc.uint8Array({ maxLength: 16 }), fc.anything()),
        }),
        (value) => {
          let bytes: Uint8Array
          try {
            bytes = encodeCbor(value)
          } catch {
            return
          }
          const r = decodeChunkMessage(bytes)
          if (r.ok) expect(decodeChunkMessage(encodeChunkMessage(r.value)).ok).toBe(true)
        },
      ),
    )
  })
})
