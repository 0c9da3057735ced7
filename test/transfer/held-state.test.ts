import { describe, expect, it } from 'vitest'
import { cidOf } from '../../src/codec/cid.js'
import { emptyBitfield, setBit } from '../../src/transfer/bitfield.js'
import {
  decodeHeldState,
  encodeHeldSlot,
  encodeHeldState,
  heldSlotBytes,
} from '../../src/transfer/held-state.js'

const cid = cidOf({ image: 1 }).bytes
const other = cidOf({ image: 2 }).bytes
const N = 20

function bits(...chunks: number[]): Uint8Array {
  const b = emptyBitfield(N)
  for (const c of chunks) setBit(b, c)
  return b
}

function file(a: Uint8Array, b: Uint8Array): Uint8Array {
  return new Uint8Array([...a, ...b])
}

describe('transfer: held state', () => {
  it('transfer: held state: a fresh file reads back with generation 0', () => {
    const r = decodeHeldState(encodeHeldState(cid, N, bits(1, 19)), cid, N)
    expect(r.ok && r.value).toEqual({ bitfield: bits(1, 19), generation: 0 })
  })

  it('transfer: held state: the slot with the newer generation wins, whichever slot it is in', () => {
    const old = encodeHeldSlot(cid, N, bits(1), 4)
    const newer = encodeHeldSlot(cid, N, bits(1, 2), 5)
    expect(decodeHeldState(file(old, newer), cid, N)).toEqual({
      ok: true,
      value: { bitfield: bits(1, 2), generation: 5 },
    })
    expect(decodeHeldState(file(newer, old), cid, N)).toEqual({
      ok: true,
      value: { bitfield: bits(1, 2), generation: 5 },
    })
  })

  it('transfer: held state: a torn write of one slot falls back to the other', () => {
    const old = encodeHeldSlot(cid, N, bits(1), 4)
    const torn = encodeHeldSlot(cid, N, bits(1, 2), 5)
    torn.fill(0, torn.length >> 1)
    expect(decodeHeldState(file(old, torn), cid, N)).toEqual({
      ok: true,
      value: { bitfield: bits(1), generation: 4 },
    })
  })

  it('transfer: held state: refuses two bad slots, another manifest, another chunk count and a wrong size', () => {
    const slot = encodeHeldSlot(cid, N, bits(3), 1)
    const bad = new Uint8Array(slot).fill(7, 0, 8)
    const code = (r: ReturnType<typeof decodeHeldState>) => (r.ok ? 'ok' : r.error.code)
    expect(code(decodeHeldState(file(bad, bad), cid, N))).toBe('corrupt')
    expect(code(decodeHeldState(file(slot, slot), other, N))).toBe('other-image')
    expect(code(decodeHeldState(file(slot, slot), cid, N + 8))).toBe('corrupt')
    expect(code(decodeHeldState(slot, cid, N))).toBe('corrupt')
    expect(heldSlotBytes(cid, N) * 2).toBe(file(slot, slot).length)
  })

  it('transfer: held state: refuses set bits past the last chunk', () => {
    const b = bits()
    b[2] = 0x01
    expect(decodeHeldState(encodeHeldState(cid, N, b), cid, N).ok).toBe(false)
  })
})
