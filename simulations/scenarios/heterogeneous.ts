import { baseOptions, heterogeneous as mix, type Scenario } from './common.js'

/** The same rollout over a realistic mix: 20 % LAN gateways, 50 % DSL, 30 % cellular. */
export const heterogeneous: Scenario = {
  name: 'heterogeneous',
  description: 'bandwidth classes: 20% LAN 100/100, 50% DSL 50/10, 30% cellular 20/5 Mbit/s',
  build: (input) => baseOptions(input, mix()),
}
