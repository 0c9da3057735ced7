import { describe } from 'vitest'
import type { ByzantineMode } from '../../simulations/consensus/run.js'
import { FIXED_SEEDS, REGRESSION_SEEDS } from '../../simulations/consensus/seeds.js'
import { seedTest } from './consensus-seeds.js'

describe('consensus: simulation: fixed seeds (n=4, f=1, mixed faults)', () => {
  for (const seed of FIXED_SEEDS) seedTest(seed, 4, 'mixed')
  for (const r of REGRESSION_SEEDS)
    if (r.validators === 4) seedTest(r.seed, 4, r.byzantine as ByzantineMode, r.why)
})
