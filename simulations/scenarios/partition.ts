import { baseOptions, boundMs, homogeneous, type Scenario } from './common.js'

/**
 * One of the four regions (about a quarter of the fleet) is cut off from the others, the
 * origin and the validators, from 10 % into the rollout for 40 % of its expected length;
 * then the partition heals and the region must finish and report.
 */
export const partition: Scenario = {
  name: 'partition',
  description: 'region 3 cut off from 0.1T to 0.5T (T = the lower bound), then healed',
  build: (input) => {
    const base = baseOptions(input, homogeneous())
    const t = boundMs(base)
    return { ...base, partition: { region: 3, fromMs: 0.1 * t, durationMs: 0.4 * t } }
  },
}
