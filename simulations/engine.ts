import { assert } from '../src/codec/assert.js'

/**
 * A discrete-event engine: a virtual clock and a queue of events ordered by time, ties broken
 * by the order they were scheduled. Nothing here reads the real clock or draws randomness, so
 * a run is a pure function of what the caller schedules (and of the caller's seeded PRNG).
 */

interface Scheduled {
  readonly at: number
  readonly seq: number
  readonly run: () => void
}

/** A binary min-heap on (at, seq). */
export class EventQueue {
  private readonly heap: Scheduled[] = []

  get size(): number {
    return this.heap.length
  }

  push(item: Scheduled): void {
    const h = this.heap
    h.push(item)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(h[i]!, h[parent]!)) break
      swap(h, i, parent)
      i = parent
    }
  }

  peek(): Scheduled | undefined {
    return this.heap[0]
  }

  pop(): Scheduled | undefined {
    const h = this.heap
    const top = h[0]
    if (top === undefined) return undefined
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && before(h[l]!, h[m]!)) m = l
        if (r < h.length && before(h[r]!, h[m]!)) m = r
        if (m === i) break
        swap(h, i, m)
        i = m
      }
    }
    return top
  }
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

function swap<T>(a: T[], i: number, j: number): void {
  const t = a[i]!
  a[i] = a[j]!
  a[j] = t
}

export type RunOutcome = 'drained' | 'deadline' | 'stopped'

export class EventBudgetExceeded extends Error {
  override name = 'EventBudgetExceeded'
}

export class Simulator {
  private readonly queue = new EventQueue()
  private seq = 0
  private clock: number
  private processed = 0
  private stopRequested = false

  /**
   * @param start virtual time of the first event (milliseconds)
   * @param eventsMax every run is bounded: exceeding this many events is an error
   * @param queueMax events pending at once; a runaway producer is an error, not an OOM
   */
  constructor(
    start: number,
    readonly eventsMax: number,
    readonly queueMax: number,
  ) {
    this.clock = start
  }

  get now(): number {
    return this.clock
  }

  get eventsProcessed(): number {
    return this.processed
  }

  get pending(): number {
    return this.queue.size
  }

  /** Runs `run` at virtual time `at` (not before now). */
  at(at: number, run: () => void): void {
    assert(Number.isFinite(at), 'events happen at a finite time')
    if (this.queue.size >= this.queueMax)
      throw new EventBudgetExceeded(`more than ${this.queueMax} events pending`)
    this.queue.push({ at: Math.max(at, this.clock), seq: this.seq++, run })
  }

  after(delay: number, run: () => void): void {
    this.at(this.clock + delay, run)
  }

  /** Ends the current `run` after the event being processed. */
  stop(): void {
    this.stopRequested = true
  }

  /**
   * Processes events in order until the queue is empty, the next event is after `until`, or
   * `stop()` is called. `afterEach` runs after every event (invariant checks).
   */
  run(until: number, afterEach?: () => void): RunOutcome {
    this.stopRequested = false
    for (;;) {
      const next = this.queue.peek()
      if (!next) return 'drained'
      if (next.at > until) {
        this.clock = until
        return 'deadline'
      }
      this.queue.pop()
      this.clock = next.at
      this.processed++
      if (this.processed > this.eventsMax) throw new EventBudgetExceeded(`more than ${this.eventsMax} events`)
      next.run()
      afterEach?.()
      if (this.stopRequested) return 'stopped'
    }
  }
}
