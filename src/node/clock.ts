/**
 * The node's clocks: the only place in src/ that reads the time (test/architecture/clock.test.ts
 * fails on a `Date.now()` or an argument-less `new Date()` anywhere else). The cores take the
 * time as an argument; the node's drivers and services read it from a `Clock` handed to them by
 * `Node.start`, so a test or a harness can run a node on a fake or stepped clock.
 *
 * Two kinds of time, not to be mixed:
 * - wall-clock time (`systemClock`): milliseconds since the epoch, what blocks, reports,
 *   rollout plans, progress messages and the chain's age are measured in. It can jump (NTP, an
 *   operator, a device without a battery-backed clock setting itself after boot).
 * - elapsed time (`monotonicClock`): milliseconds from an arbitrary origin that only moves
 *   forward at the rate of real time. Deadlines that measure how long something has taken on
 *   this machine (a frame's transfer, a wait for a stream to drain, an install hook's timeout)
 *   read it, so a step of the wall clock neither fires them early nor holds them back.
 */

/** A source of the current time in milliseconds. */
export interface Clock {
  now(): number
}

/** Wall-clock time, milliseconds since the Unix epoch: the default clock of a node and the CLI. */
export const systemClock: Clock = { now: () => Date.now() }

/**
 * Elapsed time in milliseconds since an arbitrary origin (the process's start), never going
 * back: only differences between two readings mean anything.
 */
export const monotonicClock: Clock = { now: () => performance.now() }
