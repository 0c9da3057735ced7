/** Thrown only when one of our own invariants does not hold: a bug, never bad input. */
export class AssertionError extends Error {
  override name = 'AssertionError'
}

/**
 * Guards an invariant of our own code. Stays on in production (STYLE.md §4): one condition
 * per call, with a message that says what should have been true.
 */
export function assert(condition: unknown, why: string): asserts condition {
  if (!condition) throw new AssertionError(why)
}
