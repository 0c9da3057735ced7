/**
 * The chunks waiting to be requested, kept sorted by availability (how many neighbours hold
 * each one) so that the rarest is found without scanning every chunk: the layout of
 * libtorrent's piece picker. `order` holds the waiting chunks bucket after bucket, bucket `a`
 * being the chunks that `a` neighbours hold; `start[a]` is where bucket `a` begins. A change of
 * availability by one moves a chunk across a bucket boundary with one swap (O(1)); adding or
 * removing a chunk shifts one element per bucket above it (O(buckets)).
 *
 * Availability is tracked for every chunk, waiting or not, so a chunk that comes back (a
 * timeout, a bad copy) lands in the right bucket.
 */
import { assert } from '../codec/assert.js'
import type { Prng } from '../prng.js'

/** `scan` found nothing the predicate accepts. */
export const PICK_NONE = -1
/** `scan` ran out of budget before finding anything. */
export const PICK_BUDGET_SPENT = -2

export class ChunkPicker {
  private readonly order: Int32Array
  private readonly pos: Int32Array
  private readonly avail: Int32Array
  /** start[b] is the first position of bucket b; start[buckets] is the number of waiting chunks. */
  private readonly start: Int32Array
  private readonly buckets: number

  /** @param maxAvailability the most neighbours that can hold one chunk (the peer limit). */
  constructor(
    readonly chunkCount: number,
    readonly maxAvailability: number,
  ) {
    assert(Number.isSafeInteger(chunkCount) && chunkCount >= 0, 'chunk count is a whole number')
    assert(Number.isSafeInteger(maxAvailability) && maxAvailability >= 1, 'max availability is at least 1')
    this.order = new Int32Array(chunkCount)
    this.pos = new Int32Array(chunkCount).fill(-1)
    this.avail = new Int32Array(chunkCount)
    this.buckets = maxAvailability + 1
    this.start = new Int32Array(this.buckets + 1)
  }

  /** Waiting chunks. */
  get size(): number {
    return this.start[this.buckets]!
  }

  /** True when some waiting chunk is held by at least one neighbour. */
  hasRequestable(): boolean {
    return this.start[1]! < this.start[this.buckets]!
  }

  has(chunk: number): boolean {
    return this.pos[chunk]! >= 0
  }

  availability(chunk: number): number {
    return this.avail[chunk]!
  }

  /** Adds a chunk to the waiting set, in the bucket of its availability. */
  add(chunk: number): void {
    assert(this.pos[chunk] === -1, 'a chunk is added to the picker once')
    const a = this.avail[chunk]!
    const { order, pos, start } = this
    let hole = start[this.buckets]!
    // Shift each bucket above `a` right by one: its first element moves past its end.
    for (let b = this.buckets - 1; b > a; b--) {
      const first = start[b]!
      if (first < hole) {
        const moved = order[first]!
        order[hole] = moved
        pos[moved] = hole
      }
      hole = first
      start[b + 1] = start[b + 1]! + 1
    }
    start[a + 1] = start[a + 1]! + 1
    order[hole] = chunk
    pos[chunk] = hole
  }

  /** Removes a chunk from the waiting set (it was requested or became held). */
  remove(chunk: number): void {
    const p = this.pos[chunk]!
    assert(p >= 0, 'only a waiting chunk is removed from the picker')
    const a = this.avail[chunk]!
    const { order, pos, start } = this
    let hole = start[a + 1]! - 1
    this.swap(p, hole)
    // Shift each bucket above `a` left by one: its last element moves into the hole.
    for (let b = a + 1; b < this.buckets; b++) {
      const last = start[b + 1]! - 1
      if (last > hole) {
        const moved = order[last]!
        order[hole] = moved
        pos[moved] = hole
      }
      hole = last
      start[b] = start[b]! - 1
    }
    start[this.buckets] = start[this.buckets]! - 1
    pos[chunk] = -1
  }

  /** One more neighbour holds the chunk. */
  increment(chunk: number): void {
    const a = this.avail[chunk]!
    assert(a < this.buckets - 1, 'availability stays within the peer limit')
    this.avail[chunk] = a + 1
    const p = this.pos[chunk]!
    if (p < 0) return
    // The last of bucket a becomes the first of bucket a + 1.
    const last = this.start[a + 1]! - 1
    this.swap(p, last)
    this.start[a + 1] = last
  }

  /** One neighbour fewer holds the chunk. */
  decrement(chunk: number): void {
    const a = this.avail[chunk]!
    assert(a > 0, 'availability stays non-negative')
    this.avail[chunk] = a - 1
    const p = this.pos[chunk]!
    if (p < 0) return
    // The first of bucket a becomes the last of bucket a - 1.
    const first = this.start[a]!
    this.swap(p, first)
    this.start[a] = first + 1
  }

  /**
   * The rarest waiting chunk the predicate accepts, ties broken at random: buckets are visited
   * from availability 1 up (never 0: no neighbour has those), each from a random offset. Stops
   * after `budget` chunks have been looked at and returns PICK_BUDGET_SPENT, so a caller can
   * switch to a cheaper way for a neighbour that holds few waiting chunks.
   */
  scan(prng: Prng, accept: (chunk: number) => boolean, budget: number): number {
    const { order, start } = this
    let left = budget
    for (let b = 1; b < this.buckets; b++) {
      const s = start[b]!
      const n = start[b + 1]! - s
      if (n === 0) continue
      const r = prng.int(n)
      for (let i = 0; i < n; i++) {
        if (left-- <= 0) return PICK_BUDGET_SPENT
        let j = r + i
        if (j >= n) j -= n
        const chunk = order[s + j]!
        if (accept(chunk)) return chunk
      }
    }
    return PICK_NONE
  }

  /** Checks the layout against the availability counts (tests; O(chunks)). */
  checkInvariants(): void {
    const { order, pos, start, avail } = this
    for (let b = 0; b < this.buckets; b++) assert(start[b]! <= start[b + 1]!, 'bucket starts are ordered')
    assert(start[0] === 0, 'bucket 0 starts at 0')
    for (let b = 0; b < this.buckets; b++) {
      for (let i = start[b]!; i < start[b + 1]!; i++) {
        const chunk = order[i]!
        assert(pos[chunk] === i, 'pos and order agree')
        assert(avail[chunk] === b, 'a chunk sits in the bucket of its availability')
      }
    }
    let waiting = 0
    for (let c = 0; c < this.chunkCount; c++) if (pos[c]! >= 0) waiting++
    assert(waiting === this.size, 'every waiting chunk has a position')
  }

  private swap(i: number, j: number): void {
    if (i === j) return
    const { order, pos } = this
    const a = order[i]!
    const b = order[j]!
    order[i] = b
    order[j] = a
    pos[a] = j
    pos[b] = i
  }
}
