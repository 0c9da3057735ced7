/**
 * Chunk bitfields: bit `i` says "chunk `i` is held". The wire layout is BitTorrent's: chunk `i`
 * is bit `7 - (i % 8)` of byte `floor(i / 8)` (most significant bit first), and the spare bits
 * of the last byte are zero. The same layout is used in have messages, in the scheduler and in
 * the chunk store's persisted state, so one byte string moves between them without conversion.
 */
import { err, ok, type Result } from '../codec/result.js'

/** Bytes needed for `chunkCount` bits. */
export function bitfieldBytes(chunkCount: number): number {
  return Math.ceil(chunkCount / 8)
}

/** An all-zero bitfield for `chunkCount` chunks. */
export function emptyBitfield(chunkCount: number): Uint8Array {
  return new Uint8Array(bitfieldBytes(chunkCount))
}

/** A bitfield with every one of `chunkCount` bits set (a seed's). */
export function fullBitfield(chunkCount: number): Uint8Array {
  const bits = emptyBitfield(chunkCount)
  for (let i = 0; i < chunkCount; i++) setBit(bits, i)
  return bits
}

export function getBit(bits: Uint8Array, index: number): boolean {
  return ((bits[index >>> 3]! >>> (7 - (index & 7))) & 1) === 1
}

export function setBit(bits: Uint8Array, index: number): void {
  bits[index >>> 3] = bits[index >>> 3]! | (0x80 >>> (index & 7))
}

export function clearBit(bits: Uint8Array, index: number): void {
  bits[index >>> 3] = bits[index >>> 3]! & ~(0x80 >>> (index & 7))
}

/** The number of set bits. */
export function countBits(bits: Uint8Array): number {
  let count = 0
  for (let i = 0; i < bits.length; i++) {
    let byte = bits[i]!
    while (byte !== 0) {
      byte &= byte - 1
      count++
    }
  }
  return count
}

/** The indices of the set bits, in increasing order. */
export function setBits(bits: Uint8Array): number[] {
  const out: number[] = []
  for (let i = 0; i < bits.length; i++) {
    const byte = bits[i]!
    if (byte === 0) continue
    for (let b = 0; b < 8; b++) if ((byte >>> (7 - b)) & 1) out.push(i * 8 + b)
  }
  return out
}

export type BitfieldError =
  | { readonly code: 'wrong-length'; readonly message: string }
  | { readonly code: 'spare-bits-set'; readonly message: string }

/** Checks a bitfield that came from a peer or a file against the chunk count. */
export function checkBitfield(bits: Uint8Array, chunkCount: number): Result<Uint8Array, BitfieldError> {
  const want = bitfieldBytes(chunkCount)
  if (bits.byteLength !== want) {
    return err({ code: 'wrong-length', message: `bitfield of ${bits.byteLength} bytes, expected ${want}` })
  }
  const spare = want * 8 - chunkCount
  if (spare > 0 && (bits[want - 1]! & ((1 << spare) - 1)) !== 0) {
    return err({ code: 'spare-bits-set', message: 'bits past the last chunk are set' })
  }
  return ok(bits)
}
