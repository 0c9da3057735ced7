import { baseOptions, boundMs, homogeneous, type Scenario } from './common.js'

/** The view-0 primary (validator 0) crashes 30 % into the rollout and stays down (f = 1). */
export const validatorCrash: Scenario = {
  name: 'validator-crash',
  description: 'the primary validator crashes at 0.3T and stays down; reports still commit',
  build: (input) => {
    const base = baseOptions(input, homogeneous())
    return { ...base, validatorCrash: { validator: 0, atMs: 0.3 * boundMs(base) } }
  },
}
