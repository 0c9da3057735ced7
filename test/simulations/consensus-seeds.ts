import { expect, it } from 'vitest'
import { type ByzantineMode, runConsensusSeed } from '../../simulations/consensus/run.js'

/** One test per seed: safe (no fork, no violated invariant) and live (every transaction commits). */
export function seedTest(seed: number, validators: number, byzantine: ByzantineMode, why = ''): void {
  const replay = `npm run sim -- consensus --validators ${validators} --byzantine ${byzantine} --seed ${seed}`
  it(`consensus: simulation: seed ${seed} (n=${validators}, ${byzantine}) stays safe and live${why ? `: ${why}` : ''}`, () => {
    const r = runConsensusSeed({ seed, validators, byzantine })
    expect(r.violations, `replay with: ${replay}`).toEqual([])
    expect(r.forks, `replay with: ${replay}`).toBe(0)
    expect(r.livenessFailures, `replay with: ${replay}`).toBe(0)
  })
}
