/**
 * Keeps an idle or downloading node's memory near what it uses (constants.ts
 * MEMORY_GARBAGE_SLACK_BYTES says why V8 alone does not): once a second it reads the V8 heap in
 * use plus ArrayBuffer memory, and when that exceeds what the last full GC left by the slack,
 * it runs a full GC. The first collection enables V8's `gc` function, which `--expose-gc`
 * would have given; V8 reads that flag whenever a context is created, so a fresh vm context
 * hands it over without a command-line flag.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { MEMORY_GARBAGE_SLACK_BYTES, MEMORY_WATCH_INTERVAL_MS } from '../constants.js'

export interface MemoryWatchOptions {
  readonly intervalMs: number
  readonly slackBytes: number
  /** What a full GC could give back, in bytes: the heap in use plus ArrayBuffer memory. */
  readonly measure: () => number
  /** Runs the full GC. */
  readonly collect: () => void
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

  constructor(options: Partial<MemoryWatchOptions> = {}) {
    this.options = {
      intervalMs: MEMORY_WATCH_INTERVAL_MS,
      slackBytes: MEMORY_GARBAGE_SLACK_BYTES,
      measure: collectable,
      collect: collectGarbage,
      ...options,
    }
    this.baseline = this.options.measure()
  }

  start(): void {
    this.timer ??= setInterval(() => this.check(), this.options.intervalMs).unref()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** Full collections this watch has run. */
  get collected(): number {
    return this.collections
  }

  /**
   * Runs a full GC now: when a big job has just ended (a download), its garbage is all there
   * is, and an idle node otherwise keeps it until the slack is reached, maybe never.
   */
  collectNow(): void {
    this.options.collect()
    this.collections++
    this.baseline = this.options.measure()
  }

  /** Runs a full GC if garbage has grown past the slack since the last one; true if it did. */
  check(): boolean {
    const now = this.options.measure()
    if (now - this.baseline <= this.options.slackBytes) {
      // Garbage collected by V8 itself lowers the mark: the slack counts from what is live.
      this.baseline = Math.min(this.baseline, now)
      return false
    }
    this.collectNow()
    return true
  }
}
