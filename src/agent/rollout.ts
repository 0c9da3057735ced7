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
import { sha256 } from '../codec/hash.js'
import type { RolloutPlan } from '../ledger/tx.js'

/** Buckets per fleet: percent × 100, so a wave's percentage maps to whole buckets. */
export const ROLLOUT_BUCKETS = 10_000

/** The device's rollout bucket, in [0, ROLLOUT_BUCKETS). */
export function rolloutBucket(publicKey: Uint8Array): number {
  const digest = sha256(publicKey)
  const view = new DataView(digest.buffer, digest.byteOffset, digest.byteLength)
  return view.getUint32(0, false) % ROLLOUT_BUCKETS
}

/**
 * When the plan first admits a bucket (milliseconds since the epoch), or undefined when no
 * wave ever does (the plan stops below the bucket's percentage).
 */
export function waveOpensAt(plan: RolloutPlan, bucket: number): number | undefined {
  let at: number | undefined
  // The ledger refuses plans whose waves go backwards, but the minimum does not rely on it.
  for (const wave of plan.waves) {
    if (bucket >= wave.percent * 100) continue
    const opens = plan.start + wave.afterMs
    if (at === undefined || opens < at) at = opens
  }
  return at
}

/** True when a wave of the plan admits the bucket at `now`. */
export function isWaveOpen(plan: RolloutPlan, bucket: number, now: number): boolean {
  const at = waveOpensAt(plan, bucket)
  return at !== undefined && now >= at
}
