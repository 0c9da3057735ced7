import { utf8 } from './codec/bytes.js'
import { sha256 } from './codec/hash.js'

/**
 * The one source of randomness of the pure cores (STYLE.md §2): a seeded PRNG (sfc32, 128-bit
 * state) that a driver hands in. Production seeds it from the OS; the simulator from `--seed`.
 * `child(label)` derives an independent stream from the seed and a label, not from draws, so
 * adding a component or a draw never shifts any other component's stream.
 */
export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number

  private constructor(private readonly seedBytes: Uint8Array) {
    const view = new DataView(seedBytes.buffer, seedBytes.byteOffset, seedBytes.byteLength)
    this.a = view.getUint32(0, true)
    this.b = view.getUint32(4, true)
    this.c = view.getUint32(8, true)
    this.d = view.getUint32(12, true) | 1
    // Mix the state before the first output, as sfc32's authors recommend.
    for (let i = 0; i < 12; i++) this.nextUint32()
  }

  /** A generator for a seed: a number (the simulator's `--seed`) or a string. */
  static fromSeed(seed: number | string): Prng {
    return new Prng(sha256(utf8(`fwmesh-prng:${seed}`)))
  }

  /** A generator seeded from raw bytes (at least 16), e.g. from node:crypto in production. */
  static fromBytes(bytes: Uint8Array): Prng {
    if (bytes.byteLength < 16) throw new RangeError('a PRNG seed needs at least 16 bytes')
    return new Prng(sha256(bytes))
  }

  /** An independent generator for a named subsystem. */
  child(label: string): Prng {
    const labelBytes = utf8(`/${label}`)
    const joined = new Uint8Array(this.seedBytes.byteLength + labelBytes.byteLength)
    joined.set(this.seedBytes)
    joined.set(labelBytes, this.seedBytes.byteLength)
    return new Prng(sha256(joined))
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296
  }

  /** A uniform integer in [0, bound); bound must be a positive safe integer ≤ 2^32. */
  int(bound: number): number {
    if (!(bound >= 1 && bound <= 4294967296 && Number.isInteger(bound)))
      throw new RangeError(`bad bound ${bound}`)
    // Rejection sampling keeps the draw unbiased.
    const limit = 4294967296 - (4294967296 % bound)
    for (;;) {
      const x = this.nextUint32()
      if (x < limit) return x % bound
    }
  }

  /** A uniform integer in [min, max]. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1)
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty array')
    return items[this.int(items.length)]!
  }

  /** Shuffles in place (Fisher–Yates) and returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = items[i]!
      items[i] = items[j]!
      items[j] = t
    }
    return items
  }

  /** `n` random bytes (keys in the simulator and tests). */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i += 4) {
      const x = this.nextUint32()
      for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (x >>> (8 * k)) & 0xff
    }
    return out
  }
}
