/**
 * The per-wave failure threshold (docs/rollouts.md, "Controlling a rollout"), applied by the
 * rules when an `install.report` with status `failed` or `rolled-back` commits (a rollback is
 * a failure of the release, if not of the device), so every node halts a rollout
 * at the same report. Definitions:
 *
 * - targeted: registered devices of the release's product whose hardware the release lists
 *   and that carry one of its tags, when it names any;
 * - the current wave: the last wave open at the block's time (rollout-waves.ts);
 * - in open waves: targeted devices whose bucket is below the current wave's percentage;
 * - failures: targeted devices in open waves whose first `failed` or `rolled-back` report for
 *   the release committed. A device's record remembers the last release it was counted failed for
 *   (`failed`), so repeated reports count once; a device that fails another release in
 *   between and this one again would count twice (one rollout per product at a time is the
 *   usual case, and the rules keep no per-release device lists, which would grow unbounded).
 *
 * When the current wave sets `maxFailurePercent` and failures × 100 ≥ maxFailurePercent ×
 * (targeted devices in open waves), the release is halted: waves past the current one do not
 * open until an admin's `release.resume`. A resume clears the halt but not the count: the
 * next counted failure checks the threshold again.
 *
 * Cost: a counted failure walks the device table once (to count the targeted devices in open
 * waves); a device counts at most once per release, so a release costs at most one walk per
 * registered device that fails it.
 */
import { toHex } from '../codec/bytes.js'
import { currentWave, rolloutBucket } from './rollout-waves.js'
import type { ApplyContext } from './rules.js'
import type { DeviceRecord, LedgerState, ReleaseRecord } from './state.js'

/** True when the release targets the device: same product, a listed hardware model, a tag. */
export function targetsDevice(release: ReleaseRecord, device: DeviceRecord): boolean {
  if (device.product !== release.product) return false
  if (!release.hardware.includes(device.hardware)) return false
  const tags = release.tags
  return tags === undefined || tags.length === 0 || tags.some((t) => device.groups.includes(t))
}

/** Counts a device's failure of the release and halts the rollout when it crosses. */
export function recordFailure(
  state: LedgerState,
  release: ReleaseRecord,
  device: DeviceRecord,
  ctx: ApplyContext,
): void {
  if (device.failed === release.id) return
  if (!targetsDevice(release, device)) return
  const wave = currentWave(release.rollout, ctx.time)
  if (wave < 0) return
  const percent = release.rollout.waves[wave]!.percent
  if (rolloutBucket(device.publicKey) >= percent * 100) return
  state.devices.set(toHex(device.publicKey), { ...device, failed: release.id })
  const failures = (release.failures ?? 0) + 1
  let updated: ReleaseRecord = { ...release, failures }
  const threshold = release.rollout.waves[wave]!.maxFailurePercent
  if (threshold !== undefined && release.halted === undefined && release.aborted === undefined) {
    const targeted = targetedInOpenWaves(state, release, percent)
    if (targeted > 0 && failures * 100 >= threshold * targeted) {
      updated = {
        ...updated,
        halted: { height: ctx.height, time: ctx.time, wave, percent, failures, targeted },
      }
    }
  }
  state.releases.set(release.id, updated)
}

function targetedInOpenWaves(state: LedgerState, release: ReleaseRecord, percent: number): number {
  let n = 0
  for (const [, device] of state.devices.entries()) {
    if (targetsDevice(release, device) && rolloutBucket(device.publicKey) < percent * 100) n++
  }
  return n
}
