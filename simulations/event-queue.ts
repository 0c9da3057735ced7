import { assert } from '../src/codec/assert.js'

/**
 * The event queue of the one discrete-event engine, which both simulators run on: a binary
 * min-heap on (time, sequence) over preallocated typed arrays, so the millions of chunk events
 * of a 10,000-device run allocate nothing. The heap keeps each event's time and sequence beside
 * its slot, in heap order: a comparison reads two neighbouring entries instead of two random
 * slots (at 10,000 devices the slot reads were cache misses, a tenth of the run).
 *
 * An event is a kind (a small integer the driver switches on) and five integer fields; rare
 * events (consensus messages, agent work) carry a closure instead (`KIND_CLOSURE`). The fleet
 * simulator pops typed events in its own loop (its hot path); `Simulator` (engine.ts) is the
 * virtual clock over closure events that the consensus simulator runs on. Ties in time run in
 * the order they were pushed, so a run is a pure function of its inputs.
 */

/** The kind of an event that runs a closure. */
export const KIND_CLOSURE = 0

export class EventBudgetExceeded extends Error {
  override name = 'EventBudgetExceeded'
}

export class EventQueue {
  private capacity: number
  private kindOf: Uint8Array
  private fields: Int32Array
  /** The heap: slot, time and sequence of each entry, in heap order. */
  private heap: Int32Array
  private heapAt: Float64Array
  private heapSeq: Float64Array
  private freeSlots: Int32Array
  private freeTop = 0
  private count = 0
  private nextSeq = 0
  private readonly closures: ((() => void) | undefined)[] = []

  /** The fields of the event last popped, valid until the next pop. */
  at = 0
  kind = 0
  a = 0
  b = 0
  c = 0
  d = 0
  e = 0
  fn: (() => void) | undefined

  /**
   * @param initialCapacity slots allocated up front (grown by doubling)
   * @param capacityMax events pending at once; beyond it a runaway producer is an error, not an OOM
   */
  constructor(
    initialCapacity: number,
    readonly capacityMax: number,
  ) {
    assert(initialCapacity >= 1 && initialCapacity <= capacityMax, 'a sane initial capacity')
    this.capacity = initialCapacity
    this.kindOf = new Uint8Array(initialCapacity)
    this.fields = new Int32Array(initialCapacity * 5)
    this.heap = new Int32Array(initialCapacity)
    this.heapAt = new Float64Array(initialCapacity)
    this.heapSeq = new Float64Array(initialCapacity)
    this.freeSlots = new Int32Array(initialCapacity)
    for (let i = 0; i < initialCapacity; i++) this.freeSlots[i] = initialCapacity - 1 - i
    this.freeTop = initialCapacity
  }

  get size(): number {
    return this.count
  }

  /** The time of the next event, or Infinity when none is pending. */
  peekAt(): number {
    return this.count === 0 ? Number.POSITIVE_INFINITY : this.heapAt[0]!
  }

  push(at: number, kind: number, a: number, b: number, c: number, d: number, e: number): void {
    assert(Number.isFinite(at), 'events happen at a finite time')
    const slot = this.allocate()
    this.kindOf[slot] = kind
    const f = slot * 5
    const fields = this.fields
    fields[f] = a
    fields[f + 1] = b
    fields[f + 2] = c
    fields[f + 3] = d
    fields[f + 4] = e
    this.siftUp(slot, at, this.nextSeq++)
  }

  pushClosure(at: number, fn: () => void): void {
    assert(Number.isFinite(at), 'events happen at a finite time')
    const slot = this.allocate()
    this.kindOf[slot] = KIND_CLOSURE
    this.closures[slot] = fn
    this.siftUp(slot, at, this.nextSeq++)
  }

  /** Pops the earliest event into the public fields; false when the queue is empty. */
  pop(): boolean {
    if (this.count === 0) return false
    const heap = this.heap
    const slot = heap[0]!
    this.at = this.heapAt[0]!
    const last = --this.count
    if (last > 0) this.siftDown(heap[last]!, this.heapAt[last]!, this.heapSeq[last]!)
    this.kind = this.kindOf[slot]!
    const f = slot * 5
    const fields = this.fields
    this.a = fields[f]!
    this.b = fields[f + 1]!
    this.c = fields[f + 2]!
    this.d = fields[f + 3]!
    this.e = fields[f + 4]!
    if (this.kind === KIND_CLOSURE) {
      this.fn = this.closures[slot]
      this.closures[slot] = undefined
    } else {
      this.fn = undefined
    }
    this.freeSlots[this.freeTop++] = slot
    return true
  }

  private allocate(): number {
    if (this.freeTop === 0) this.grow()
    return this.freeSlots[--this.freeTop]!
  }

  private grow(): void {
    const old = this.capacity
    if (old >= this.capacityMax) throw new EventBudgetExceeded(`more than ${this.capacityMax} events pending`)
    const next = Math.min(this.capacityMax, old * 2)
    const resize = <T extends Float64Array | Int32Array | Uint8Array>(a: T, n: number): T => {
      const b = new (a.constructor as new (n: number) => T)(n)
      b.set(a)
      return b
    }
    this.kindOf = resize(this.kindOf, next)
    this.fields = resize(this.fields, next * 5)
    this.heap = resize(this.heap, next)
    this.heapAt = resize(this.heapAt, next)
    this.heapSeq = resize(this.heapSeq, next)
    this.freeSlots = resize(this.freeSlots, next)
    for (let i = next - 1; i >= old; i--) this.freeSlots[this.freeTop++] = i
    this.capacity = next
  }

  /** Places a new entry at the end of the heap and moves it up to its place. */
  private siftUp(slot: number, at: number, seq: number): void {
    const heap = this.heap
    const heapAt = this.heapAt
    const heapSeq = this.heapSeq
    let i = this.count++
    while (i > 0) {
      const parent = (i - 1) >> 1
      const pAt = heapAt[parent]!
      if (pAt < at || (pAt === at && heapSeq[parent]! < seq)) break
      heap[i] = heap[parent]!
      heapAt[i] = pAt
      heapSeq[i] = heapSeq[parent]!
      i = parent
    }
    heap[i] = slot
    heapAt[i] = at
    heapSeq[i] = seq
  }

  /** Places the entry (slot, at, seq) at the root, the old root gone, and moves it down. */
  private siftDown(slot: number, at: number, seq: number): void {
    const heap = this.heap
    const heapAt = this.heapAt
    const heapSeq = this.heapSeq
    const n = this.count
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      let m = l
      let mAt = heapAt[l]!
      const r = l + 1
      if (r < n) {
        const rAt = heapAt[r]!
        if (rAt < mAt || (rAt === mAt && heapSeq[r]! < heapSeq[l]!)) {
          m = r
          mAt = rAt
        }
      }
      if (at < mAt || (at === mAt && seq < heapSeq[m]!)) break
      heap[i] = heap[m]!
      heapAt[i] = mAt
      heapSeq[i] = heapSeq[m]!
      i = m
    }
    heap[i] = slot
    heapAt[i] = at
    heapSeq[i] = seq
  }
}
