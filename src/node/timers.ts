import { TIMER_DELAY_MS_MAX } from '../constants.js'
import { monotonicClock } from './clock.js'

/**
 * Timers that wait as long as they are asked. Node's setTimeout takes at most 2^31-1 ms (24.8
 * days): a longer delay fires after 1 ms, with only a TimeoutOverflowWarning to say so. That
 * once killed an install hook 6 ms after it started, for `install_timeout = "600h"`. Every
 * timer in src/node whose delay comes from configuration, a release or a peer goes through here.
 */

/** A timer from `setLongTimeout`; `clear()` cancels it, whichever step it is in. */
export interface LongTimer {
  clear(): void
  /** Lets the process exit while the timer waits (like `Timeout.unref`). */
  unref(): LongTimer
}

/** A delay a single setTimeout can wait: NaN and negatives are 0, the rest at most TIMER_DELAY_MS_MAX. */
export function clampTimerDelay(ms: number): number {
  if (!(ms > 0)) return 0
  return Math.min(ms, TIMER_DELAY_MS_MAX)
}

/**
 * Calls `fn` once after `delayMs`, however long: a delay beyond one timer's reach waits in
 * steps of at most TIMER_DELAY_MS_MAX. An infinite delay never fires.
 */
export function setLongTimeout(fn: () => void, delayMs: number): LongTimer {
  // Elapsed time, not the wall clock: a device that sets its clock by NTP after boot steps it by
  // years, and a wall-clock due time would then end an install hook's timeout at once.
  let timer: NodeJS.Timeout | undefined
  let unref = false
  let cleared = false
  const due = monotonicClock.now() + (Number.isNaN(delayMs) ? 0 : delayMs)
  const arm = (remaining: number) => {
    if (cleared || remaining === Number.POSITIVE_INFINITY) return
    const step = clampTimerDelay(remaining)
    timer = setTimeout(() => {
      // The clock may have moved while this step waited: what is left is measured, not assumed.
      const left = due - monotonicClock.now()
      if (step === remaining || left <= 0) fn()
      else arm(left)
    }, step)
    if (unref) timer.unref()
  }
  arm(Number.isNaN(delayMs) ? 0 : delayMs)
  const handle: LongTimer = {
    clear() {
      cleared = true
      if (timer) clearTimeout(timer)
    },
    unref() {
      unref = true
      timer?.unref()
      return handle
    },
  }
  return handle
}
