import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  checkBitfield,
  clearBit,
  countBits,
  emptyBitfield,
  fullBitfield,
  getBit,
  setBit,
  setBits,
} from '../../src/transfer/bitfield.js'

describe('transfer: bitfield', () => {
  it('transfer: bitfield: chunk 0 is the most significant bit of the first byte', () => {
    const b = emptyBitfield(10)
    setBit(b, 0)
    setBit(b, 9)
    expect([...b]).toEqual([0x80, 0x40])
  })

  it('transfer: bitfield: set, clear, count and list agree with a set of indices', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.array(fc.nat(), { maxLength: 100 }), (n, raw) => {
        const chosen = new Set(raw.map((x) => x % n))
        const b = emptyBitfield(n)
        for (const c of chosen) setBit(b, c)
        expect(countBits(b)).toBe(chosen.size)
        expect(setBits(b)).toEqual([...chosen].sort((x, y) => x - y))
        expect(checkBitfield(b, n).ok).toBe(true)
        for (const c of chosen) clearBit(b, c)
        expect(countBits(b)).toBe(0)
      }),
    )
  })

  it('transfer: bitfield: a full bitfield leaves the spare bits clear', () => {
    const b = fullBitfield(11)
    expect([...b]).toEqual([0xff, 0xe0])
    expect(getBit(b, 10)).toBe(true)
    expect(checkBitfield(b, 11).ok).toBe(true)
  })

  it('transfer: bitfield: refuses a wrong length or set spare bits', () => {
    const long = checkBitfield(new Uint8Array(3), 11)
    expect(long.ok ? undefined : long.error.code).toBe('wrong-length')
    const spare = checkBitfield(new Uint8Array([0, 0x10]), 11)
    expect(spare.ok ? undefined : spare.error.code).toBe('spare-bits-set')
  })
})
