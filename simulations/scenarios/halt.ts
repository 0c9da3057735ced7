import { baseOptions, boundMs, homogeneous, type Scenario } from './common.js'

/**
 * A rollout that halts itself: waves of 10 % at once, 50 % and 100 % later, the first with a
 * failure threshold of 5 %, and 10 % of the devices' install hooks failing. The failed reports
 * of the first wave cross the threshold, the ledger halts the release (src/ledger/rollout-halt.ts),
 * and the later waves never open: no device outside the first wave fetches a byte. The run
 * lasts past the last wave's opening, since the fleet never finishes installing.
 */
export const halt: Scenario = {
  name: 'halt',
  description:
    'waves of 10% (halts at 5% failed), 50%, 100%; 10% of install hooks fail: later waves never start',
  build: (input) => {
    const base = baseOptions(input, homogeneous())
    // The first wave must install, report and commit before the second opens: a few bounds.
    const t = Math.round(4 * boundMs(base)) + 60_000
    return {
      ...base,
      installFailureShare: 0.1,
      waves: [
        { percent: 10, afterMs: 0, maxFailurePercent: 5 },
        { percent: 50, afterMs: t },
        { percent: 100, afterMs: 2 * t },
      ],
      runForMs: 3 * t,
    }
  },
}
