/**
 * Rollout waves (DESIGN.md §6). Every device has a stable bucket in [0, 10000): the first four
 * bytes of the SHA-256 of its public key, big-endian, modulo 10,000. A wave admits the buckets
 * below `percent × 100`, from `rollout.start + afterMs` on. Because the bucket depends on the
 * key only, the same devices open every release's first wave: a fixed canary cohort an
 * operator can watch, which is what staged rollouts usually want.
 *
 * Distribution: SHA-256 output is uniform, and 2^32 mod 10,000 = 7,296, so 7,296 buckets have
 * one more preimage out of 429,496: a bias of 2.3e-6, far below anything a rollout notices.
 * test/agent/rollout.test.ts checks that a 10 % wave admits 10 % ± 1.5 % of 10,000 keys.
 */

import { waveOpensAt } from '../ledger/rollout-waves.js'
import type { RolloutPlan } from '../ledger/tx.js'

export { ROLLOUT_BUCKETS, rolloutBucket, waveOpensAt } from '../ledger/rollout-waves.js'

/** True when a wave of the plan admits the bucket at `now`. */
export function isWaveOpen(plan: RolloutPlan, bucket: number, now: number): boolean {
  const at = waveOpensAt(plan, bucket)
  return at !== undefined && now >= at
}
