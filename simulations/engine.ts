import { assert } from '../src/codec/assert.js'
import { EventBudgetExceeded, EventQueue } from './event-queue.js'

export { EventBudgetExceeded, EventQueue, KIND_CLOSURE } from './event-queue.js'

/**
 * The discrete-event engine of both simulators: a virtual clock over one event queue
 * (event-queue.ts), ties broken by the order events were scheduled, and bounded runs. Nothing
 * here reads the real clock or draws randomness, so a run is a pure function of what the
 * caller schedules and of the caller's seeded PRNG (src/prng.ts, one child stream per
 * subsystem). The consensus simulator schedules closures through `Simulator`; the fleet
 * simulator, with millions of chunk events, pushes typed events on the same `EventQueue` and
 * pops them in its own loop.
 */

/** Slots a simulator's queue starts with; it grows by doubling up to its bound. */
const INITIAL_QUEUE_CAPACITY = 1024

export type RunOutcome = 'drained' | 'deadline' | 'stopped'

export class Simulator {
  private readonly queue: EventQueue
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
    this.queue = new EventQueue(Math.min(INITIAL_QUEUE_CAPACITY, queueMax), queueMax)
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
    // Beyond `queueMax` pending events the queue throws EventBudgetExceeded.
    this.queue.pushClosure(Math.max(at, this.clock), run)
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
    const queue = this.queue
    for (;;) {
      if (queue.size === 0) return 'drained'
      if (queue.peekAt() > until) {
        this.clock = until
        return 'deadline'
      }
      queue.pop()
      this.clock = queue.at
      this.processed++
      if (this.processed > this.eventsMax) throw new EventBudgetExceeded(`more than ${this.eventsMax} events`)
      const run = queue.fn!
      run()
      afterEach?.()
      if (this.stopRequested) return 'stopped'
    }
  }
}
