import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { bytesEqual } from '../../src/codec/bytes.js'
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
  encodeChunkDataParts,
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

  describe('transfer: messages: chunk data travels without copies', () => {
    const joined = (parts: readonly Uint8Array[]) => {
      const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
      let at = 0
      for (const p of parts) {
        out.set(p, at)
        at += p.byteLength
      }
      return out
    }

    it.each([0, 1, 23, 24, 255, 256, 65_535, 65_536, 262_144, CHUNK_BYTES_MAX])(
      'a %i-byte chunk in three parts is the canonical encoding, byte for byte',
      (size) => {
        const data = new Uint8Array(size).map((_, i) => i * 7)
        const msg: ChunkMessage = { type: 'chunk', manifest, chunk: 3, data }
        const parts = encodeChunkDataParts(manifest, 3, data)
        expect(parts[1]).toBe(data)
        // bytesEqual, not toEqual: vitest's diffing of 4 MiB arrays takes seconds.
        expect(bytesEqual(joined(parts), encodeChunkMessage(msg))).toBe(true)
      },
    )

    it('a decoded chunk is a view into the frame, not a copy', () => {
      const data = new Uint8Array(4096).fill(9)
      const frame = joined(encodeChunkDataParts(manifest, 5, data))
      const back = decodeChunkMessage(frame)
      expect(back.ok).toBe(true)
      if (!back.ok || back.value.type !== 'chunk') return
      expect(back.value).toEqual({ type: 'chunk', manifest, chunk: 5, data })
      expect(back.value.data.buffer).toBe(frame.buffer)
    })

    it('a chunk message that names its data twice is refused', () => {
      // {data: h'01', data: h'02', ...}: the second data key stands among the other fields.
      const tail = encodeCbor({ type: 'chunk', manifest, chunk: 1, data: new Uint8Array([2]) }).subarray(1)
      const frame = joined([new Uint8Array([0xa5, 0x64, 0x64, 0x61, 0x74, 0x61, 0x41, 0x01]), tail])
      expect(code(frame)).not.toBe('accepted')
      const twice = joined([new Uint8Array([0xa4, 0x64, 0x64, 0x61, 0x74, 0x61, 0x41, 0x01]), tail])
      expect(code(twice)).not.toBe('accepted')
    })

    it('a longer-than-shortest length head is decoded as any other message would be', () => {
      const canonical = encodeChunkMessage({ type: 'chunk', manifest, chunk: 2, data: new Uint8Array([7]) })
      // h'07' written with a one-byte length (0x58 0x01) instead of 0x41.
      const long = joined([canonical.subarray(0, 6), new Uint8Array([0x58, 0x01]), canonical.subarray(7)])
      expect(code(long)).toBe(code(long.slice()))
      expect(code(long)).not.toBe('accepted')
    })

    it('random frames decode the same with and without the fast path (fast-check, seeded)', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(40), (garbage, cut) => {
          const frame = joined([
            encodeChunkDataParts(manifest, cut, garbage.subarray(0, cut))[0],
            garbage.subarray(0, cut),
            garbage.subarray(cut),
          ])
          const r = decodeChunkMessage(frame)
          if (r.ok) expect(r.value.type).toBe('chunk')
          else expect(r.error.code.length).toBeGreaterThan(0)
        }),
        { seed: 18, numRuns: 2_000 },
      )
    })
  })
})
