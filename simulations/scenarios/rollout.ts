import { baseOptions, homogeneous, type Scenario } from './common.js'

/** Validators plus N devices fetch one release and their reports commit; every device on DSL. */
export const rollout: Scenario = {
  name: 'rollout',
  description: 'homogeneous capacities (DSL 50/10 Mbit/s), one release to every device',
  build: (input) => baseOptions(input, homogeneous()),
}
