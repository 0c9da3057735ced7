/**
 * Rollout waves (DESIGN.md §6), the part the ledger and the agent share. Every device has a
 * stable bucket in [0, 10000): the first four bytes of the SHA-256 of its public key,
 * big-endian, modulo 10,000. A wave admits the buckets below `percent × 100`, from
 * `rollout.start + afterMs` on. The ledger needs the same buckets as the devices to count
 * failures per wave and halt a rollout (rules.ts), so the computation lives here, in the core
 * both import.
 */
import { sha256 } from '../codec/hash.js'
import type { RolloutPlan } from './tx.js'

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

/**
 * The index of the last wave open at `time` (the "current" wave), or -1 before the first opens.
 * Waves never go backwards on the ledger (rules.ts), so the last open one has the largest share.
 */
export function currentWave(plan: RolloutPlan, time: number): number {
  let current = -1
  for (const [i, wave] of plan.waves.entries()) if (time >= plan.start + wave.afterMs) current = i
  return current
}
