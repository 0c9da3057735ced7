import { baseOptions, homogeneous, type Scenario } from './common.js'

/**
 * 5 % of the devices claim every chunk and serve only corrupted ones; the honest devices'
 * schedulers must ban them (two bad chunks each) and still finish. One control message in a
 * thousand is lost as well, so requests also time out and are asked again.
 */
export const malicious: Scenario = {
  name: 'malicious',
  description: '5% of devices serve corrupted chunks; 0.1% of control messages lost',
  build: (input) => ({ ...baseOptions(input, homogeneous()), maliciousShare: 0.05, loss: 0.001 }),
}
