/**
 * The fixed seeds `npm test` runs for n=4 and n=7, and the seeds that once failed (each a
 * regression test). Keep the list stable: a changed list makes a green run mean less.
 */

/** Seeds 1..200 of the mixed byzantine mode, for each committee size in the test suite. */
export const FIXED_SEEDS: readonly number[] = Array.from({ length: 200 }, (_, i) => i + 1)

/**
 * Seeds that failed once, with the committee size, the mode and what went wrong. They run
 * in `npm test` on top of the fixed list.
 */
export const REGRESSION_SEEDS: readonly {
  readonly seed: number
  readonly validators: number
  readonly byzantine: string
  readonly why: string
}[] = [
  {
    seed: 1122,
    validators: 4,
    byzantine: 'delay',
    why: 'a validator restarted inside a new view forgot the NEW-VIEW decision and blamed the honest primary re-proposing the carried block',
  },
  {
    seed: 1223,
    validators: 7,
    byzantine: 'mixed',
    why: "a vote under another validator's name was counted as that validator's double vote before its signature was checked",
  },
  {
    seed: 1435,
    validators: 7,
    byzantine: 'mixed',
    why: 'the same forged-name vote, against a Twins pair',
  },
]
