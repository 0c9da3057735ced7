/**
 * Whether a device may install a release (DESIGN.md §6), as a pure function of the release
 * record, the device's profile, the version it runs and the time. The checks run from the
 * cheapest and most permanent to the time-dependent ones, and the first that fails is the
 * reason: a revoked release for another product reports `revoked`.
 *
 * Time-dependent reasons carry `opensAt`, the time the check would pass, so the agent knows
 * when to look again: `wave-closed` (the rollout has not reached the device's bucket yet) and
 * `window-closed` (outside the local maintenance window).
 */
import { compareSemVer, parseSemVer, type SemVer } from '../ledger/semver.js'
import { isInstallable, type ReleaseRecord } from '../ledger/state.js'
import { waveOpensAt } from './rollout.js'
import { isWindowOpen, type MaintenanceWindow, nextWindowOpening } from './window.js'

/** What the agent knows about its own device. */
export interface DeviceProfile {
  readonly product: string
  readonly hardware: string
  readonly channel: string
  /** The device's rollout bucket (`rolloutBucket(publicKey)`). */
  readonly bucket: number
}

export type IneligibleReason =
  | 'not-approved'
  | 'revoked'
  | 'other-product'
  | 'other-channel'
  | 'other-hardware'
  | 'bad-version'
  | 'not-newer'
  | 'below-min-from'
  | 'wave-closed'
  | 'window-closed'

export type Eligibility =
  | { readonly eligible: true }
  | {
      readonly eligible: false
      readonly reason: IneligibleReason
      /** For `wave-closed` and `window-closed`: when the check passes; absent when never. */
      readonly opensAt?: number
    }

const ELIGIBLE: Eligibility = { eligible: true }

function no(reason: IneligibleReason, opensAt?: number): Eligibility {
  return opensAt === undefined ? { eligible: false, reason } : { eligible: false, reason, opensAt }
}

/**
 * Everything but the maintenance window: approved and not revoked; same product, channel and
 * a listed hardware model; strictly newer than `installed` (never a downgrade, never a
 * reinstall); `installed` at least the release's min-from version; the device's wave open.
 */
export function releaseEligibility(
  release: ReleaseRecord,
  device: DeviceProfile,
  installed: SemVer,
  now: number,
): Eligibility {
  if (release.revoked !== null) return no('revoked')
  if (!isInstallable(release)) return no('not-approved')
  if (release.product !== device.product) return no('other-product')
  if (release.channel !== device.channel) return no('other-channel')
  if (!release.hardware.includes(device.hardware)) return no('other-hardware')
  // The ledger only accepts semantic versions, so a failure here means a record from
  // elsewhere: refuse it rather than guess an order.
  const version = parseSemVer(release.version)
  if (!version) return no('bad-version')
  if (compareSemVer(version, installed) <= 0) return no('not-newer')
  if (release.minFrom !== null) {
    const minFrom = parseSemVer(release.minFrom)
    if (!minFrom) return no('bad-version')
    if (compareSemVer(installed, minFrom) < 0) return no('below-min-from')
  }
  const opensAt = waveOpensAt(release.rollout, device.bucket)
  if (opensAt === undefined) return no('wave-closed')
  if (now < opensAt) return no('wave-closed', opensAt)
  return ELIGIBLE
}

/** `releaseEligibility`, then the maintenance window: what must hold when the hook runs. */
export function installEligibility(
  release: ReleaseRecord,
  device: DeviceProfile,
  installed: SemVer,
  window: MaintenanceWindow | null,
  now: number,
): Eligibility {
  const base = releaseEligibility(release, device, installed, now)
  if (!base.eligible) return base
  if (!isWindowOpen(window, now)) return no('window-closed', nextWindowOpening(window, now))
  return ELIGIBLE
}
