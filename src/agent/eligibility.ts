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

/** What the ledger's `device.register` says a device is. */
export interface DeviceRegistration {
  readonly product: string
  readonly hardware: string
  /** The device's tags (`groups` on the ledger); absent counts as none. */
  readonly tags?: readonly string[]
}

/** What the agent knows about its own device. */
export interface DeviceProfile {
  /** From the device's configuration. */
  readonly product: string
  readonly hardware: string
  readonly channel: string
  /** The device's rollout bucket (`rolloutBucket(publicKey)`). */
  readonly bucket: number
  /** The device's registration on the ledger; absent while it is not registered. */
  readonly registration?: DeviceRegistration | undefined
}

/** True when the ledger registered the device as another product or hardware than it is configured as. */
export function registrationDisagrees(device: DeviceProfile): boolean {
  const registered = device.registration
  return (
    registered !== undefined &&
    (registered.product !== device.product || registered.hardware !== device.hardware)
  )
}

export type IneligibleReason =
  | 'not-approved'
  | 'revoked'
  | 'other-product'
  | 'other-channel'
  | 'other-hardware'
  | 'registration-mismatch'
  | 'bad-version'
  | 'not-newer'
  | 'below-min-from'
  | 'aborted'
  | 'other-tags'
  | 'paused'
  | 'halted'
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
 * a listed hardware model; the ledger's registration of the device (when there is one) naming
 * the same product and hardware as its configuration; strictly newer than `installed` (never
 * a downgrade, never a reinstall); `installed` at least the release's min-from version; the
 * device's wave open.
 *
 * When the configuration and the registration disagree, nothing is installed
 * (`registration-mismatch`): one of them is wrong, and firmware for the wrong board can brick
 * a device, while the ledger would refuse the report of a device registered as another
 * product. An unregistered device is judged by its configuration alone (the ledger refuses
 * its reports until it is registered; it may be registered after the install).
 */
export function releaseEligibility(
  release: ReleaseRecord,
  device: DeviceProfile,
  installed: SemVer,
  now: number,
): Eligibility {
  if (release.revoked !== null) return no('revoked')
  if (release.aborted !== undefined) return no('aborted')
  if (!isInstallable(release)) return no('not-approved')
  const mismatch = deviceMismatch(release, device, installed)
  if (mismatch) return no(mismatch)
  // Paused and halted are operators' (or the threshold's) stops, lifted only by a resume:
  // no time to look again at, so no `opensAt`.
  if (release.paused !== undefined) return no('paused')
  // A halt keeps later waves shut; devices in the waves open at the halt go on.
  if (release.halted !== undefined && device.bucket >= release.halted.percent * 100) return no('halted')
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

/**
 * Whether a release not revoked is for this device and newer than what it runs: every check of
 * `releaseEligibility` but the approval and the rollout wave, which only time and approvers
 * change. The node fetches such a release's manifest ahead of its approval, so that the
 * download starts without a round trip when the approval commits.
 */
export function awaitsApproval(release: ReleaseRecord, device: DeviceProfile, installed: SemVer): boolean {
  return (
    release.revoked === null &&
    release.aborted === undefined &&
    deviceMismatch(release, device, installed) === undefined
  )
}

/** The first check of product, channel, hardware, registration and version that fails, if any. */
function deviceMismatch(
  release: ReleaseRecord,
  device: DeviceProfile,
  installed: SemVer,
): IneligibleReason | undefined {
  if (release.product !== device.product) return 'other-product'
  if (release.channel !== device.channel) return 'other-channel'
  if (!release.hardware.includes(device.hardware)) return 'other-hardware'
  if (registrationDisagrees(device)) return 'registration-mismatch'
  // Tags are on the ledger only: a device not registered yet carries none.
  const tags = release.tags
  if (tags !== undefined && tags.length > 0) {
    const carried = device.registration?.tags ?? []
    if (!tags.some((t) => carried.includes(t))) return 'other-tags'
  }
  // The ledger only accepts semantic versions, so a failure here means a record from
  // elsewhere: refuse it rather than guess an order.
  const version = parseSemVer(release.version)
  if (!version) return 'bad-version'
  if (compareSemVer(version, installed) <= 0) return 'not-newer'
  if (release.minFrom !== null) {
    const minFrom = parseSemVer(release.minFrom)
    if (!minFrom) return 'bad-version'
    if (compareSemVer(installed, minFrom) < 0) return 'below-min-from'
  }
  return undefined
}
