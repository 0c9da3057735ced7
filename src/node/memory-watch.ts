/**
 * Keeps an idle or downloading node's memory near what it uses (constants.ts
 * MEMORY_GARBAGE_SLACK_BYTES says why V8 alone does not): once a second it reads the V8 heap in
 * use plus ArrayBuffer memory, and when that exceeds what the last full GC left by the slack,
 * it runs a full GC. When the node turns idle (MEMORY_IDLE_AFTER_MS without a download or a
 * collection for garbage, startup included) it settles once: MEMORY_SETTLE_COLLECTIONS full
 * GCs, a second apart, so what the busy time left behind is given back while nobody waits.
 * The first collection enables V8's `gc` function, which `--expose-gc` would have given; V8
 * reads that flag whenever a context is created, so a fresh vm context hands it over without a
 * command-line flag.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import {
  MEMORY_GARBAGE_SLACK_BYTES,
  MEMORY_IDLE_AFTER_MS,
  MEMORY_SETTLE_COLLECTIONS,
  MEMORY_WATCH_INTERVAL_MS,
} from '../constants.js'
import { monotonicClock } from './clock.js'

export interface MemoryWatchOptions {
  readonly intervalMs: number
  readonly slackBytes: number
  /** Quiet time (no download, no collection for garbage) after which the node is idle. */
  readonly idleAfterMs: number
  /** Full GCs, one per interval, that settle a node once it turns idle. */
  readonly settleCollections: number
  /** What a full GC could give back, in bytes: the heap in use plus ArrayBuffer memory. */
  readonly measure: () => number
  /** Runs the full GC. */
  readonly collect: () => void
  /** The current time in milliseconds. */
  readonly now: () => number
}

let collectFn: (() => void) | undefined

/** A full, synchronous garbage collection of this process's V8 heap. */
export function collectGarbage(): void {
  if (!collectFn) {
    setFlagsFromString('--expose-gc')
    collectFn = runInNewContext('gc') as () => void
  }
  collectFn()
}

function collectable(): number {
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

export class MemoryWatch {
  private readonly options: MemoryWatchOptions
  private timer: NodeJS.Timeout | undefined
  private baseline: number
  private collections = 0
  /** When the node last did something that makes garbage fast: a download, a collection. */
  private busyAt: number
  /** Full GCs still to run to settle an idle node; 0 once settled until it is busy again. */
  private settleLeft = 0

  constructor(options: Partial<MemoryWatchOptions> = {}) {
    this.options = {
      intervalMs: MEMORY_WATCH_INTERVAL_MS,
      slackBytes: MEMORY_GARBAGE_SLACK_BYTES,
      idleAfterMs: MEMORY_IDLE_AFTER_MS,
      settleCollections: MEMORY_SETTLE_COLLECTIONS,
      measure: collectable,
      collect: collectGarbage,
      // Idle is how long since the node was busy: elapsed time, whatever the wall clock does.
      now: monotonicClock.now,
      ...options,
    }
    this.baseline = this.options.measure()
    // Starting up (loading code, syncing the ledger) is busy: the node settles once it is over.
    this.busyAt = this.options.now()
    this.settleLeft = this.options.settleCollections
  }

  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.options.intervalMs).unref()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** Full collections this watch has run (settling included). */
  get collected(): number {
    return this.collections
  }

  /** True once the node has been quiet for `idleAfterMs`. */
  get idle(): boolean {
    return this.options.now() - this.busyAt >= this.options.idleAfterMs
  }

  /**
   * Runs a full GC now: when a big job has just ended (a download), its garbage is all there
   * is, and an idle node otherwise keeps it until the slack is reached, maybe never.
   */
  collectNow(): void {
    this.busy()
    this.collect()
  }

  /**
   * Called by a download every MEMORY_CHECK_BYTES it receives: the node is busy, and a full GC
   * runs if garbage has grown past the slack since the last one; true if it did.
   */
  check(): boolean {
    this.busy()
    return this.collectPast()
  }

  /**
   * The once-a-second check: a full GC past the slack (which makes the node busy: garbage came
   * fast), or, once the node is idle, the settling GCs it has not run yet; true if it collected.
   */
  tick(): boolean {
    if (this.collectPast()) {
      this.busy()
      return true
    }
    if (this.settleLeft === 0 || !this.idle) return false
    this.settleLeft--
    this.collect()
    return true
  }

  private busy(): void {
    this.busyAt = this.options.now()
    this.settleLeft = this.options.settleCollections
  }

  private collect(): void {
    this.options.collect()
    this.collections++
    this.baseline = this.options.measure()
  }

  private collectPast(): boolean {
    const now = this.options.measure()
    if (now - this.baseline <= this.options.slackBytes) {
      // Garbage collected by V8 itself lowers the mark: the slack counts from what is live.
      this.baseline = Math.min(this.baseline, now)
      return false
    }
    this.collect()
    return true
  }
}
