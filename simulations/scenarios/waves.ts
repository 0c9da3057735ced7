import { baseOptions, boundMs, homogeneous, type Scenario } from './common.js'

/**
 * A staged rollout: 10 % of the fleet at once, 50 % after half the expected distribution time,
 * everyone after one. Devices join by their stable rollout bucket (src/agent/rollout.ts).
 */
export const waves: Scenario = {
  name: 'waves',
  description: 'waves of 10% at 0, 50% at 0.5T, 100% at T after the release',
  build: (input) => {
    const base = baseOptions(input, homogeneous())
    const t = Math.round(boundMs(base))
    return {
      ...base,
      waves: [
        { percent: 10, afterMs: 0 },
        { percent: 50, afterMs: Math.round(t / 2) },
        { percent: 100, afterMs: t },
      ],
    }
  },
}
