/**
 * How far a release has rolled out, per wave and per device (`GET /v1/releases/{id}/rollout`,
 * `fwmesh rollout status`, `/metrics`): a pure function of the release, the registered devices,
 * the committed install reports, the progress devices gossiped (progress.ts) and the time.
 *
 * Each registered device is either ineligible, with the reason the device agent itself would
 * give (eligibility.ts: other product or hardware, not newer, below min-from, revoked, outside
 * every wave, aborted, without one of the release's tags), or eligible in one state: `pending` (its wave not open yet, or open and nothing
 * heard), `downloading` (percent), `verifying`, `installing`, `pending-reboot`, then `confirmed`,
 * `rolled-back` or `failed` (docs/lifecycle.md). Counts are of eligible devices only: a device
 * that can never install the release is not "behind".
 *
 * What the ledger says wins over gossip: a committed `confirmed` report (or the device's
 * installed release on the ledger) is `confirmed`, a committed `failed` or `rolled-back` report
 * is that, whatever the device gossiped. A device that gossiped `confirmed` before its report
 * committed is still `installing`. Committed `installing` and `pending-reboot` reports give the
 * state when gossip has nothing newer.
 *
 * Judged from the ledger's side, which knows less than the device:
 * - the channel is device configuration, not on the ledger: every device is taken to follow the
 *   release's channel;
 * - the version a device runs is the last one its reports named; a device that never
 *   reported one is taken to run a version the release accepts (min-from), so it counts.
 * - the maintenance window is local too: a device waiting for it shows as pending, or as
 *   verifying when it gossiped that last.
 */
import { toHex } from '../codec/bytes.js'
import { didFromPublicKey } from '../crypto/did.js'
import { parseSemVer, type SemVer } from '../ledger/semver.js'
import { type DeviceRecord, isInstallable, type ReleaseRecord } from '../ledger/state.js'
import { FINAL_REPORT_STATUSES, type ReportStatus } from '../ledger/tx.js'
import { type DeviceProfile, type IneligibleReason, releaseEligibility } from './eligibility.js'
import { PROGRESS_STATES, type ProgressEntry } from './progress.js'
import { ROLLOUT_BUCKETS, rolloutBucket } from './rollout.js'

/** A device's state in a rollout: nothing heard yet, then its progress in lifecycle order. */
export const ROLLOUT_STATES = ['pending', ...PROGRESS_STATES] as const
export type RolloutState = (typeof ROLLOUT_STATES)[number]

/** A committed install report of the release, in ledger order. */
export interface RolloutReport {
  /** The device's public key, hex. */
  readonly device: string
  readonly status: ReportStatus
  readonly detail?: string
}

export interface RolloutInput {
  readonly release: ReleaseRecord
  readonly devices: Iterable<DeviceRecord>
  /** The release's committed install reports, oldest first. */
  readonly reports: readonly RolloutReport[]
  /** A device's newest gossiped progress on this release (public key, hex). */
  readonly progress: (device: string) => ProgressEntry | undefined
  readonly now: number
}

/** Why a device will not install the release: the agent's reasons, less the local-only ones. */
export type RolloutIneligibleReason = Exclude<IneligibleReason, 'window-closed' | 'other-channel'>

export interface RolloutDevice {
  readonly did: string
  readonly product: string
  readonly hardware: string
  /** The version it runs by its last reports (the ledger's), or null. */
  readonly installedVersion: string | null
  /** The wave that first admits it, or null when none does. */
  readonly wave: number | null
  readonly eligible: boolean
  /** `ineligible` when not eligible. */
  readonly state: RolloutState | 'ineligible'
  /**
   * For ineligible devices: why. For pending ones: what it waits for (`not-approved`,
   * `wave-closed`, `paused`, `halted`).
   */
  readonly reason?: RolloutIneligibleReason | 'not-approved' | 'wave-closed' | string
  /** Pending on a wave: when it opens. */
  readonly opensAt?: number
  /** Downloading: percent of the image held. */
  readonly percent?: number
  /** Failed, rolled back or pending a reboot: the report's detail or the gossiped reason. */
  readonly detail?: string
  /** Where the state comes from: the ledger, the device's gossip, or nothing heard. */
  readonly source: 'ledger' | 'gossip' | 'none'
  /** The time of the gossiped progress the state comes from. */
  readonly heardAt?: number
}

export type RolloutCounts = Record<RolloutState, number>

export interface RolloutWave {
  readonly index: number
  readonly percent: number
  readonly opensAt: number
  /** Its time has come and no halt keeps it shut. */
  readonly open: boolean
  /** The release is halted and this wave is past the share open at the halt: it stays shut. */
  readonly halted: boolean
  /** The wave's failure threshold, when it sets one. */
  readonly maxFailurePercent?: number
  /** Eligible devices this wave admits first. */
  readonly devices: number
  readonly counts: RolloutCounts
}

/** A pause or an abort as the view shows it. */
export interface RolloutControl {
  readonly height: number
  readonly time: number
  readonly by: string
  readonly reason: string
}

/** A halt by a wave's failure threshold (state.ts `HaltRecord`). */
export interface RolloutHalt {
  readonly height: number
  readonly time: number
  readonly wave: number
  readonly percent: number
  readonly failures: number
  readonly targeted: number
}

export interface RolloutView {
  readonly release: string
  readonly product: string
  readonly version: string
  readonly channel: string
  readonly hardware: readonly string[]
  readonly installable: boolean
  readonly revoked: boolean
  /** Paused by an operator (`release.pause`): no device starts until a resume. */
  readonly paused: RolloutControl | null
  /** Aborted (`release.abort`): final. */
  readonly aborted: RolloutControl | null
  /** Halted by a wave's failure threshold: later waves stay shut until an admin resumes. */
  readonly halted: RolloutHalt | null
  /** Devices the ledger counted failed toward the thresholds. */
  readonly failures: number
  /** Device tags the release targets; empty: every device of its hardware. */
  readonly tags: readonly string[]
  readonly now: number
  readonly eligible: number
  readonly ineligible: number
  /** Eligible devices per state. */
  readonly counts: RolloutCounts
  /** Every eligible device confirmed, rolled back or failed (false with no eligible device). */
  readonly done: boolean
  readonly waves: readonly RolloutWave[]
  readonly devices: readonly RolloutDevice[]
}

export function emptyCounts(): RolloutCounts {
  return {
    pending: 0,
    downloading: 0,
    verifying: 0,
    installing: 0,
    'pending-reboot': 0,
    confirmed: 0,
    'rolled-back': 0,
    failed: 0,
  }
}

/** The wave whose opening first admits a bucket (the earliest), or null. */
function waveOf(release: ReleaseRecord, bucket: number): number | null {
  let best: number | null = null
  release.rollout.waves.forEach((wave, i) => {
    if (bucket >= wave.percent * (ROLLOUT_BUCKETS / 100)) return
    if (best === null || wave.afterMs < release.rollout.waves[best]!.afterMs) best = i
  })
  return best
}

const ZERO: SemVer = { major: 0, minor: 0, patch: 0, prerelease: [], text: '0.0.0' }

/** The version the ledger knows a device runs; without one, one the release accepts. */
function versionOf(device: DeviceRecord, release: ReleaseRecord): SemVer | undefined {
  if (device.installed) return parseSemVer(device.installed.version)
  return (release.minFrom === null ? undefined : parseSemVer(release.minFrom)) ?? ZERO
}

export function rolloutView(input: RolloutInput): RolloutView {
  const { release, now } = input
  // The last committed word of each device: reports come oldest first.
  const lastReport = new Map<string, RolloutReport>()
  for (const r of input.reports) if (r.status !== 'downloading') lastReport.set(r.device, r)

  const devices: RolloutDevice[] = []
  for (const d of input.devices) devices.push(judge(input, d, lastReport.get(toHex(d.publicKey))))

  const counts = emptyCounts()
  const perWave = release.rollout.waves.map(() => ({ devices: 0, counts: emptyCounts() }))
  let eligible = 0
  for (const d of devices) {
    if (d.state === 'ineligible') continue
    eligible++
    counts[d.state]++
    if (d.wave !== null) {
      perWave[d.wave]!.devices++
      perWave[d.wave]!.counts[d.state]++
    }
  }
  const waves = release.rollout.waves.map((w, index) => {
    const opensAt = release.rollout.start + w.afterMs
    const halted = release.halted !== undefined && w.percent > release.halted.percent
    return {
      index,
      percent: w.percent,
      opensAt,
      open: now >= opensAt && !halted,
      halted,
      ...(w.maxFailurePercent !== undefined ? { maxFailurePercent: w.maxFailurePercent } : {}),
      ...perWave[index]!,
    }
  })
  const control = (c: ReleaseRecord['paused']) => (c ? { ...c, by: didFromPublicKey(c.by) } : null)
  return {
    release: release.id,
    product: release.product,
    version: release.version,
    channel: release.channel,
    hardware: release.hardware,
    installable: isInstallable(release),
    revoked: release.revoked !== null,
    paused: control(release.paused),
    aborted: control(release.aborted),
    halted: release.halted ?? null,
    failures: release.failures ?? 0,
    tags: release.tags ?? [],
    now,
    eligible,
    ineligible: devices.length - eligible,
    counts,
    done: eligible > 0 && counts.confirmed + counts['rolled-back'] + counts.failed === eligible,
    waves,
    devices,
  }
}

function judge(input: RolloutInput, d: DeviceRecord, report: RolloutReport | undefined): RolloutDevice {
  const { release, now } = input
  const bucket = rolloutBucket(d.publicKey)
  const base = {
    did: didFromPublicKey(d.publicKey),
    product: d.product,
    hardware: d.hardware,
    installedVersion: d.installed?.version ?? null,
    wave: waveOf(release, bucket),
  }
  // Confirmed, by the ledger: whatever else holds now (a revocation, a newer release since).
  if (d.installed?.release === release.id || report?.status === 'confirmed')
    return { ...base, eligible: true, state: 'confirmed', source: 'ledger' }

  const profile: DeviceProfile = {
    product: d.product,
    hardware: d.hardware,
    channel: release.channel,
    bucket,
    registration: { product: d.product, hardware: d.hardware, tags: d.groups },
  }
  const installed = versionOf(d, release)
  const verdict = installed
    ? releaseEligibility(release, profile, installed, now)
    : ({ eligible: false, reason: 'bad-version' } as const)
  if (!verdict.eligible) {
    // Stopped, not excluded: a resume lets it go on. What it did before the stop still shows.
    if (verdict.reason === 'paused' || verdict.reason === 'halted') {
      if (report) return fromReport(base, report)
      return { ...base, eligible: true, state: 'pending', reason: verdict.reason, source: 'none' }
    }
    // Waiting, not excluded: an approval or a wave still to come.
    if (verdict.reason === 'not-approved' && release.revoked === null)
      return { ...base, eligible: true, state: 'pending', reason: 'not-approved', source: 'none' }
    if (verdict.reason === 'wave-closed' && verdict.opensAt !== undefined)
      return {
        ...base,
        eligible: true,
        state: 'pending',
        reason: 'wave-closed',
        opensAt: verdict.opensAt,
        source: 'none',
      }
    return {
      ...base,
      eligible: false,
      state: 'ineligible',
      reason: verdict.reason as RolloutIneligibleReason,
      source: 'none',
    }
  }
  if (report && FINAL_REPORT_STATUSES.has(report.status)) return fromReport(base, report)
  const heard = input.progress(toHex(d.publicKey))
  // What the ledger holds of an install under way, unless the device said something newer.
  if (report && (!heard || lifecycleOrder(heard.state) <= lifecycleOrder(report.status)))
    return fromReport(base, report)
  if (!heard) return { ...base, eligible: true, state: 'pending', source: 'none' }
  const gossip = { eligible: true, source: 'gossip' as const, heardAt: heard.time }
  switch (heard.state) {
    case 'downloading':
      return { ...base, ...gossip, state: 'downloading', percent: heard.percent ?? 0 }
    case 'failed':
    case 'rolled-back':
      return { ...base, ...gossip, state: heard.state, detail: heard.reason ?? heard.state }
    // Confirmed by the device's word only: its report has not committed yet.
    case 'confirmed':
      return { ...base, ...gossip, state: 'installing', detail: 'confirmed; its report is not committed yet' }
    default:
      return { ...base, ...gossip, state: heard.state }
  }
}

type DeviceBase = Pick<RolloutDevice, 'did' | 'product' | 'hardware' | 'installedVersion' | 'wave'>

/** A device's state from its last committed report (not `confirmed`, which is judged first). */
function fromReport(base: DeviceBase, report: RolloutReport): RolloutDevice {
  const state: RolloutState =
    report.status === 'rolled-back' || report.status === 'installing' || report.status === 'pending-reboot'
      ? report.status
      : 'failed'
  return {
    ...base,
    eligible: true,
    state,
    ...(report.detail !== undefined || state === 'failed' ? { detail: report.detail ?? report.status } : {}),
    source: 'ledger',
  }
}

/** Where a state stands in the lifecycle, to tell which of two words about a device is newer. */
function lifecycleOrder(state: string): number {
  return (PROGRESS_STATES as readonly string[]).indexOf(state)
}
