import { baseOptions, boundMs, heterogeneous, type Scenario } from './common.js'

/**
 * The heterogeneous mix, and 10 % of the devices disconnect once during the first half of the
 * rollout and come back 2–10 s later (their links drop; they reconnect and resume).
 */
export const churn: Scenario = {
  name: 'churn',
  description:
    'heterogeneous capacities; 10% of devices leave once (first half of the rollout) and rejoin 2-10 s later',
  build: (input) => {
    const base = baseOptions(input, heterogeneous())
    return {
      ...base,
      churn: { share: 0.1, windowMs: 0.5 * boundMs(base), offlineMinMs: 2_000, offlineMaxMs: 10_000 },
    }
  },
}
