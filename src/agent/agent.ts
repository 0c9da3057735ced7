/**
 * The device agent: a sans-IO state machine (DESIGN.md §2, §6) that decides when a device
 * fetches, verifies, installs and reports a release. It has no clock, timers, randomness of
 * its own, file system, processes or awaits: the node (src/node) and the fleet simulator
 * (simulations/) drive the same object.
 *
 * Driving it:
 * 1. Boot with `DeviceAgent.boot(config, {runningVersion, state})`: the version the device
 *    runs now (as its OS reports it) and the bytes of the last `persist` output, if any.
 * 2. Call `handleLedger(view, now)` with the current ledger, then again after every committed
 *    block. Until the first call the agent only persists; inputs about work it did not ask
 *    for are ignored with a log output.
 * 3. After every `handle*` call, `poll()` until it returns undefined and carry out each output
 *    in order; a `persist` must be durable before any output after it is acted on.
 * 4. Arm one timer for `nextTickAt()` and call `handleTick(now)` when it fires.
 *
 * Policy, in the order the agent applies it:
 * - Target: the newest release of the device's product and channel that passes
 *   `releaseEligibility` (approved, not revoked, hardware, newer than installed, min-from,
 *   rollout wave) and was not given up before. A newer one appearing before the install
 *   starts replaces the target (`cancel-fetch`, then `fetch`); a revoked target is dropped
 *   with `cancel-fetch` and no report, since nothing was installed.
 * - The download is not held back by the maintenance window: devices fetch from each other,
 *   and spreading fetches over the day spreads the load on the mesh, while the window exists
 *   to protect service, which only the install touches. The hook runs only inside it.
 * - A failed download, an unreadable image or one whose SHA-256 is not the release's is
 *   retried with exponential backoff, AGENT_DOWNLOAD_ATTEMPTS_MAX times in all; then the
 *   release is given up with a `failed` report. A failed or timed-out hook is not retried
 *   (an install is not idempotent in general): `failed` report, release given up.
 * - Disk: before a download starts the driver measures free space (`handleDiskSpace`); without
 *   room for the rest of the image plus a margin (disk-space.ts) the download does not start,
 *   a `failed` report says `insufficient space (need X, have Y)`, and the attempt counts as a
 *   failed download (backoff, then given up), so a device that frees space picks it up again.
 * - Reports (docs/lifecycle.md): `downloading` when a target's download starts, `installing`
 *   when its hook first starts, `pending-reboot` when the confirm step finds the old version
 *   still running in the same boot, then `confirmed`, `rolled-back` or `failed`.
 *   Each is resubmitted unchanged until seen committed, AGENT_REPORT_ATTEMPTS_MAX times at
 *   most; a rejection that cannot change (wrong product, hash mismatch...) ends it at once.
 * - Never installs a version older than or equal to the installed one: checked when choosing,
 *   again right before the hook runs, and asserted.
 * - Freshness (the freeze attack): while the newest block the view holds (`headTime`) is older
 *   than `maxChainAgeMs`, the agent starts no download (no new target, no retry) and no
 *   install; a download already running goes on, and verification (local) too. It acts again
 *   at the first view whose head is fresh. Validators commit a block at least every heartbeat
 *   interval, so a chain that stops moving is one withheld from this device.
 *
 * Restarts (the persisted phase at boot → what happens):
 * - idle, downloading, verifying, reporting: resume; the pending fetch or verification is
 *   requested again (the chunk store resumes a partial download) and every pending report is
 *   resubmitted once (the same signed body, so a report that did commit is a duplicate).
 * - waiting-for-window: the image is verified again first: it sat on disk unsupervised.
 * - installing: the hook's outcome is unknown. If the running version is newer than the
 *   target, someone else updated the device: the target is dropped. Otherwise the confirm step
 *   is asked (a hook may reboot the device into the new slot on its own): the target runs →
 *   `confirmed`; it does not → the install is begun again from a fresh verification, unless
 *   AGENT_INSTALL_ATTEMPTS_MAX installs were already begun: then `failed`. A crash in the
 *   middle of `rauc install` or `swupdate` leaves the inactive slot half written and the
 *   running one intact, so another attempt is safe; a hook that takes the device down every
 *   time must not loop forever.
 * - confirming: asked again (after its backoff, when one runs).
 * - pending-reboot: with a new boot id, the confirm step is asked (`confirmed` or
 *   `rolled-back`); with the same one (the node restarted, not the device), nothing happens.
 */
import { assert } from '../codec/assert.js'
import { bytesEqual } from '../codec/bytes.js'
import { err, ok, type Result } from '../codec/result.js'
import {
  AGENT_CANDIDATES_MAX,
  AGENT_CONFIRM_ATTEMPTS_MAX,
  AGENT_DOWNLOAD_ATTEMPTS_MAX,
  AGENT_GIVEN_UP_RELEASES_MAX,
  AGENT_IMAGE_PATH_LENGTH_MAX,
  AGENT_INSTALL_ATTEMPTS_MAX,
  AGENT_OUTPUTS_MAX,
  AGENT_PENDING_REPORTS_MAX,
  AGENT_REPORT_ATTEMPTS_MAX,
  AGENT_REPORT_TIMEOUT_MAX_MS,
  AGENT_REPORT_TIMEOUT_MS,
  AGENT_RETRY_BACKOFF_BASE_MS,
  AGENT_RETRY_BACKOFF_MAX_MS,
} from '../constants.js'
import { compareSemVer, parseSemVer, type SemVer } from '../ledger/semver.js'
import type { ReleaseRecord } from '../ledger/state.js'
import type { ReportStatus } from '../ledger/tx.js'
import type { Prng } from '../prng.js'
import { reportDetail } from './detail.js'
import { type DiskSpace, INSUFFICIENT_SPACE, insufficientSpace } from './disk-space.js'
import {
  type DeviceProfile,
  installEligibility,
  registrationDisagrees,
  releaseEligibility,
} from './eligibility.js'
import { type ConfirmOutcome, type InstallOutcome, installFailureDetail } from './install-outcome.js'
import type { LedgerView } from './ledger-view.js'
import { rolloutBucket } from './rollout.js'
import {
  type AgentPhase,
  type AgentState,
  type AgentStateError,
  type AgentTarget,
  decodeAgentState,
  encodeAgentState,
  initialAgentState,
  type PendingReport,
} from './state.js'
import type { MaintenanceWindow } from './window.js'

/** The device's own settings: from its configuration file and key. */
export interface AgentConfig {
  /** The device's ed25519 public key: its identity on the ledger and its rollout bucket. */
  readonly publicKey: Uint8Array
  readonly product: string
  readonly hardware: string
  /** The release channel the device follows; `stable` unless configured. */
  readonly channel: string
  /** The maintenance window (`parseMaintenanceWindow`); null means always open. */
  readonly window: MaintenanceWindow | null
  /**
   * The oldest the newest block may be (ms) for the agent to start a download or an install;
   * null turns the check off (unit tests and simulations whose views carry no chain time).
   */
  readonly maxChainAgeMs: number | null
}

/** The agent's limits; defaults from src/constants.ts. Tests may lower them, never raise them. */
export interface AgentLimits {
  readonly downloadAttemptsMax: number
  readonly retryBackoffBaseMs: number
  readonly retryBackoffMaxMs: number
  readonly installAttemptsMax: number
  readonly confirmAttemptsMax: number
  readonly reportAttemptsMax: number
  readonly reportTimeoutMs: number
  readonly reportTimeoutMaxMs: number
  readonly pendingReportsMax: number
  readonly givenUpMax: number
  readonly candidatesMax: number
}

export const DEFAULT_AGENT_LIMITS: AgentLimits = {
  downloadAttemptsMax: AGENT_DOWNLOAD_ATTEMPTS_MAX,
  retryBackoffBaseMs: AGENT_RETRY_BACKOFF_BASE_MS,
  retryBackoffMaxMs: AGENT_RETRY_BACKOFF_MAX_MS,
  installAttemptsMax: AGENT_INSTALL_ATTEMPTS_MAX,
  confirmAttemptsMax: AGENT_CONFIRM_ATTEMPTS_MAX,
  reportAttemptsMax: AGENT_REPORT_ATTEMPTS_MAX,
  reportTimeoutMs: AGENT_REPORT_TIMEOUT_MS,
  reportTimeoutMaxMs: AGENT_REPORT_TIMEOUT_MAX_MS,
  pendingReportsMax: AGENT_PENDING_REPORTS_MAX,
  givenUpMax: AGENT_GIVEN_UP_RELEASES_MAX,
  candidatesMax: AGENT_CANDIDATES_MAX,
}

/** What the driver tells the agent at boot. */
export interface AgentBoot {
  /** The version the device runs now, as its OS reports it: a semantic version. */
  readonly runningVersion: string
  /** The time at boot, in ms since the epoch: the time of a report the boot itself decides. */
  readonly now: number
  /**
   * What tells this boot of the device from the one before (Linux's boot_id): an update
   * that is not running is pending a reboot until it changes, and rolled back after. Without
   * one every start counts as the same boot, so nothing is ever judged rolled back.
   */
  readonly bootId?: string | undefined
  /** The bytes of the last `persist` output, or undefined on first boot. */
  readonly state?: Uint8Array | undefined
  /** Draws the jitter of retry backoffs; without one, backoffs are exact. */
  readonly prng?: Prng | undefined
  readonly limits?: Partial<AgentLimits> | undefined
}

export type AgentBootError = { readonly code: 'bad-running-version'; readonly message: string }

/** Why the agent dropped what it fetched; the driver stops the download and deletes the data. */
export type CancelReason = 'superseded' | 'revoked' | 'not-eligible' | 'bad-image' | 'given-up'

export type AgentLogEvent =
  | 'state-unreadable'
  | 'target-chosen'
  | 'target-dropped'
  | 'download-retry'
  | 'release-given-up'
  | 'install-interrupted'
  | 'install-unknown'
  | 'confirmed'
  | 'confirm-retry'
  | 'pending-reboot'
  | 'rolled-back'
  | 'report-abandoned'
  | 'report-dropped'
  | 'stale-input'
  | 'registration-mismatch'
  | 'chain-stale'
  | 'chain-fresh'

/** A command for the driver. */
export type AgentOutput =
  /** Store these bytes durably (atomically) before acting on any later output. */
  | { readonly type: 'persist'; readonly bytes: Uint8Array }
  /**
   * Download the release's image (resuming what is already held) and call `handleDownloaded`
   * or `handleDownloadFailed`. The chunks are checked against the manifest on the way.
   */
  | {
      readonly type: 'fetch'
      readonly release: string
      readonly version: string
      readonly manifest: string
      readonly imageSize: number
      readonly imageSha256: Uint8Array
    }
  /** Stop downloading the release and delete what was fetched of it. */
  | {
      readonly type: 'cancel-fetch'
      readonly release: string
      readonly manifest: string
      readonly reason: CancelReason
    }
  /** Hash the whole image file and call `handleVerified` (or `handleVerifyFailed`). */
  | {
      readonly type: 'verify'
      readonly release: string
      readonly manifest: string
      readonly imagePath?: string
    }
  /** Run the install hook on the image and call `handleInstallDone` with its outcome. */
  | {
      readonly type: 'install'
      readonly release: string
      readonly version: string
      readonly manifest: string
      readonly imagePath?: string
    }
  /**
   * Ask the installer which version runs and have it keep `version` if that is it (the
   * confirm hook, `hook confirm VERSION`), then call `handleConfirmDone`. `hookExited` is
   * false when the install hook may have been cut short by a restart: a driver with no way to
   * ask (no hook, no version file) answers `running` only when it is true.
   */
  | {
      readonly type: 'confirm'
      readonly release: string
      readonly version: string
      readonly hookExited: boolean
    }
  /**
   * Sign and submit an `install.report` with these fields, the device's key and `nonce: id`,
   * then call `handleReportCommitted(id)` or `handleReportRejected(id, code)`. A resubmission
   * carries the same fields, so it is the same transaction.
   */
  | {
      readonly type: 'report'
      readonly id: number
      readonly status: ReportStatus
      readonly release: string
      readonly imageSha256: Uint8Array
      readonly time: number
      readonly detail?: string
      readonly running?: string
    }
  /** Something an operator may want in the node's log. */
  | {
      readonly type: 'log'
      readonly level: 'info' | 'warn'
      readonly event: AgentLogEvent
      readonly message: string
    }

/**
 * Ledger rejections that a resubmission of the same report cannot change. Anything else (an
 * unregistered device, a full mempool) may pass later, within the attempt limit.
 */
const PERMANENT_REJECTIONS: ReadonlySet<string> = new Set([
  'tx.malformed',
  'tx.wrong-chain',
  'tx.bad-signature',
  'tx.too-large',
  'report.wrong-signer',
  'report.unknown-release',
  'report.wrong-product',
  'report.hash-mismatch',
  'report.running-mismatch',
])

/** The boot id of a driver that gives none: every start is the same boot. */
const SAME_BOOT = 'same-boot'

/** The agent's own working copy of its state: the same fields, writable. */
type WorkingState = { -readonly [K in keyof AgentState]: AgentState[K] } & {
  givenUp: string[]
  reports: PendingReport[]
}

export class DeviceAgent {
  private s: WorkingState
  private installedSemVer: SemVer
  private view: LedgerView | undefined
  private now = 0
  private readonly outputs: AgentOutput[] = []
  private lastPersisted: Uint8Array
  /** Whether this process asked the driver for the current phase's work (fetch, verify). */
  private issued = false
  /** Pending reports are resubmitted once at the first ledger view after boot. */
  private resubmitAtStart = true
  /**
   * While booting, commands wait for the first ledger view (`deferred`), so they follow the
   * first `persist` like every other command; reports decided during boot go out with the
   * resubmission of all pending reports.
   */
  private booting = true
  private readonly deferred: AgentOutput[] = []
  private wakeAt: number | undefined
  /** The configured profile, with the registration read from the latest ledger view. */
  private profile: DeviceProfile
  private readonly limits: AgentLimits
  private readonly prng: Prng | undefined
  private readonly bootId: string

  /** The last view's chain was too old to act on (see `isChainStale`). */
  private stale = false

  /** Why the persisted state was not used, if it was not; the agent then began idle. */
  readonly stateError: AgentStateError | undefined

  /**
   * Boots an agent. Refuses a running version that is not a semantic version (the driver
   * reads it from the OS); a persisted state that does not decode is not an error here but
   * `stateError`, and the agent starts idle.
   */
  static boot(config: AgentConfig, boot: AgentBoot): Result<DeviceAgent, AgentBootError> {
    const running = parseSemVer(boot.runningVersion)
    if (!running) {
      return err({
        code: 'bad-running-version',
        message: `the running version "${boot.runningVersion.slice(0, 64)}" is not a semantic version (like 1.4.2)`,
      })
    }
    return ok(new DeviceAgent(config, boot, running))
  }

  private constructor(
    private readonly config: AgentConfig,
    boot: AgentBoot,
    running: SemVer,
  ) {
    this.prng = boot.prng
    this.bootId = boot.bootId ?? SAME_BOOT
    this.limits = { ...DEFAULT_AGENT_LIMITS, ...boot.limits }
    for (const [name, value] of Object.entries(this.limits)) {
      const max = DEFAULT_AGENT_LIMITS[name as keyof AgentLimits]
      assert(Number.isSafeInteger(value) && value >= 1 && value <= max, `agent limit ${name} in [1, ${max}]`)
    }
    // The final report must survive the dropping of the oldest pending report.
    assert(this.limits.pendingReportsMax >= 2, 'room for a downloading and an outcome report')
    this.profile = {
      product: config.product,
      hardware: config.hardware,
      channel: config.channel,
      bucket: rolloutBucket(config.publicKey),
    }
    let state: AgentState = initialAgentState(running.text)
    this.lastPersisted = new Uint8Array(0)
    if (boot.state !== undefined) {
      const decoded = decodeAgentState(boot.state)
      if (decoded.ok) {
        state = decoded.value
        this.lastPersisted = boot.state
      } else {
        this.stateError = decoded.error
        this.log(
          'warn',
          'state-unreadable',
          `the saved agent state is unusable (${decoded.error.code}: ${decoded.error.message}); starting idle on ${running.text}`,
        )
      }
    }
    this.s = { ...state, reports: [...state.reports], givenUp: [...state.givenUp] }
    // What runs is the truth, unless an install was confirmed that the OS does not report (a
    // device without a version file reports its initial version at every boot): never go below
    // either.
    const persisted = parseSemVer(this.s.installed)!
    this.installedSemVer = compareSemVer(persisted, running) > 0 ? persisted : running
    this.s.installed = this.installedSemVer.text
    this.now = boot.now
    this.resumePhase(running)
    this.booting = false
  }

  // ---- Inputs ----

  /** The ledger changed (or this is the first view): re-decide. */
  handleLedger(view: LedgerView, now: number): void {
    this.step(now, () => {
      this.view = view
      this.readRegistration(view)
      this.evaluate()
    })
  }

  /** Takes the device's registration from the view into the profile; logs a disagreement once. */
  private readRegistration(view: LedgerView): void {
    const registration = view.registration(this.config.publicKey)
    const known = this.profile.registration
    if (
      registration?.product === known?.product &&
      registration?.hardware === known?.hardware &&
      registration?.tags?.join('\n') === known?.tags?.join('\n')
    )
      return
    this.profile = { ...this.profile, registration }
    if (registration && registrationDisagrees(this.profile))
      this.log(
        'warn',
        'registration-mismatch',
        `the ledger registers this device as ${registration.product} ${registration.hardware}, its configuration says ${this.config.product} ${this.config.hardware}; installing nothing until they agree`,
      )
  }

  /** The time `nextTickAt()` asked for (or any later time) has come. */
  handleTick(now: number): void {
    this.step(now, () => this.evaluate())
  }

  /** The fetch of `release` completed: every chunk matched the manifest. */
  handleDownloaded(release: string, now: number, imagePath?: string): void {
    assert(imagePath === undefined || imagePath.length <= AGENT_IMAGE_PATH_LENGTH_MAX, 'an image path fits')
    this.step(now, () => {
      if (!this.expecting('downloading', release, 'download result')) return
      this.s.phase = 'verifying'
      this.s.imagePath = imagePath ?? null
      this.issued = false
      this.evaluate()
    })
  }

  /** The fetch of `release` failed (no peers, disk full, too many bad chunks...). */
  handleDownloadFailed(release: string, reason: string, now: number): void {
    this.step(now, () => {
      if (!this.expecting('downloading', release, 'download failure')) return
      this.downloadFailed(reportDetail('download failed', reason), false)
      this.evaluate()
    })
  }

  /**
   * The driver measured the disk before it starts the fetch of `release` (free bytes of the
   * data directory's file system, bytes of the image already there). Returns true when the
   * download may start. Without room it does not start: the agent reports `failed` with
   * `insufficient space (need X, have Y)` and retries with the usual backoff, since a device
   * may free space. The report goes out once a spell without room (a retry that finds none
   * either adds no report), and not on the last attempt, whose give-up report says it.
   */
  handleDiskSpace(release: string, space: DiskSpace, now: number): boolean {
    let go = false
    this.step(now, () => {
      if (!this.expecting('downloading', release, 'disk space measurement')) return
      const detail = insufficientSpace(this.target().imageSize, space)
      if (detail === undefined) {
        go = true
        return
      }
      const s = this.s
      const reported = s.lastError?.startsWith(INSUFFICIENT_SPACE) === true
      const last = s.downloadAttempts + 1 >= this.limits.downloadAttemptsMax
      if (!reported && !last) this.enqueueReport('failed', detail)
      this.downloadFailed(detail, false)
      this.evaluate()
    })
    return go
  }

  /** The driver hashed the whole image of `release`: the agent compares with the ledger. */
  handleVerified(release: string, sha256: Uint8Array, now: number): void {
    this.step(now, () => {
      if (!this.expecting('verifying', release, 'verification')) return
      if (bytesEqual(sha256, this.target().imageSha256)) {
        this.s.phase = 'waiting-for-window'
        this.issued = false
      } else {
        this.downloadFailed('the image SHA-256 is not the release image hash', true)
      }
      this.evaluate()
    })
  }

  /** The image of `release` could not be read to verify it. */
  handleVerifyFailed(release: string, reason: string, now: number): void {
    this.step(now, () => {
      if (!this.expecting('verifying', release, 'verification failure')) return
      this.downloadFailed(reportDetail('the image could not be verified', reason), true)
      this.evaluate()
    })
  }

  /** The install hook ran for `release`. */
  handleInstallDone(release: string, outcome: InstallOutcome, now: number): void {
    this.step(now, () => {
      if (!this.expecting('installing', release, 'install outcome')) return
      const target = this.target()
      if (outcome.ok) {
        this.s.lastError = null
        this.toConfirming(true)
      } else if (outcome.code === 'unknown') {
        // RAUC's service goes on after its client is killed: the slot may yet be activated.
        const detail = installFailureDetail(outcome)
        this.s.lastError = detail
        this.log(
          'warn',
          'install-unknown',
          `${detail}; asking the installer what became of ${target.version}`,
        )
        this.toConfirming(true)
      } else {
        const detail = installFailureDetail(outcome)
        this.s.lastError = detail
        this.giveUp(detail)
        this.finish('failed', detail)
      }
      this.evaluate()
    })
  }

  /**
   * The confirm step for `release` ran (after the hook exited, or at the first boot after it).
   * `running`: confirmed, the installed version moves. `other`: pending a reboot when the
   * device has not rebooted since the hook ran, rolled back when it has; after a restart that
   * may have cut the hook short, the install is begun again (bounded). `unknown`: asked again
   * with backoff, then `failed`.
   */
  handleConfirmDone(release: string, outcome: ConfirmOutcome, now: number): void {
    this.step(now, () => {
      if (!this.expecting('confirming', release, 'confirmation')) return
      const s = this.s
      const target = this.target()
      this.issued = false
      switch (outcome.state) {
        case 'running':
          this.setInstalled(target.version)
          s.lastError = null
          this.log('info', 'confirmed', `${target.version} runs and is confirmed (${target.release})`)
          this.finish('confirmed')
          break
        case 'other':
          this.otherVersionRuns(outcome)
          break
        case 'unknown': {
          s.confirmAttempts++
          const detail = reportDetail('could not confirm the install', outcome.detail)
          s.lastError = detail
          if (s.confirmAttempts >= this.limits.confirmAttemptsMax) {
            const final = reportDetail(`gave up after ${s.confirmAttempts} confirmations`, detail)
            this.giveUp(final)
            this.finish('failed', final)
          } else {
            s.retryAt = this.now + this.backoff(s.confirmAttempts)
            this.log(
              'info',
              'confirm-retry',
              `${detail}; confirmation ${s.confirmAttempts + 1} of ${this.limits.confirmAttemptsMax} at ${s.retryAt}`,
            )
          }
          break
        }
      }
      this.evaluate()
    })
  }

  /** The confirm step found another version running than the target: what that means. */
  private otherVersionRuns(outcome: Extract<ConfirmOutcome, { state: 'other' }>): void {
    const s = this.s
    const target = this.target()
    const running = outcome.running !== undefined ? parseSemVer(outcome.running) : undefined
    const runs = running?.text ?? outcome.running ?? 'another version'
    if (!s.hookExited) {
      // A restart came while the hook ran: the inactive slot may be half written. Install again.
      if (s.installAttempts >= this.limits.installAttemptsMax) {
        const detail = `install interrupted ${s.installAttempts} times (restarts while the hook ran); ${runs} runs`
        s.lastError = detail
        this.giveUp(detail)
        this.finish('failed', detail)
      } else {
        this.log(
          'warn',
          'install-interrupted',
          `a restart interrupted the install of ${target.version} (${runs} runs); verifying the image and installing again`,
        )
        s.phase = 'verifying'
      }
    } else if (s.installBoot === this.bootId) {
      s.phase = 'pending-reboot'
      const detail = reportDetail(`${target.version} is written; ${runs} runs until a reboot`, outcome.detail)
      this.log('info', 'pending-reboot', detail)
      this.enqueueReport('pending-reboot', detail)
    } else {
      const detail = reportDetail(`rolled back: ${runs} runs after a reboot`, outcome.detail)
      s.lastError = detail
      this.log('warn', 'rolled-back', `${target.version} (${target.release}) ${detail}`)
      this.giveUp(detail)
      this.finish(
        'rolled-back',
        detail,
        running && running.text !== target.version ? running.text : undefined,
      )
    }
  }

  /** The report with this id is in a committed block. Unknown ids are ignored. */
  handleReportCommitted(id: number, now: number): void {
    this.step(now, () => {
      this.removeReport(id)
      this.evaluate()
    })
  }

  /**
   * The ledger refused the report with this id (`code` is the rejection code, like
   * `report.unregistered-device`). `tx.duplicate` means it was committed before.
   */
  handleReportRejected(id: number, code: string, now: number, message = ''): void {
    this.step(now, () => {
      const report = this.s.reports.find((r) => r.id === id)
      if (!report) return
      if (code === 'tx.duplicate') {
        this.removeReport(id)
      } else if (PERMANENT_REJECTIONS.has(code) || report.attempts >= this.limits.reportAttemptsMax) {
        this.removeReport(id)
        this.log(
          'warn',
          'report-abandoned',
          `the ${report.status} report for ${report.release} was refused (${code}${message ? `: ${oneLineShort(message)}` : ''}); not submitting it again`,
        )
      } else {
        this.replaceReport({ ...report, nextAt: this.now + this.reportDelay(report.attempts) })
      }
      this.evaluate()
    })
  }

  // ---- Outputs ----

  /** The next command, or undefined when there is none. */
  poll(): AgentOutput | undefined {
    return this.outputs.shift()
  }

  /** Every queued command, in order. */
  takeOutputs(): AgentOutput[] {
    return this.outputs.splice(0, this.outputs.length)
  }

  /** When the agent wants `handleTick`, or undefined when only an input can change anything. */
  nextTickAt(): number | undefined {
    return this.wakeAt
  }

  /** A copy of the state, for status pages and tests. */
  get state(): AgentState {
    return { ...this.s, reports: [...this.s.reports], givenUp: [...this.s.givenUp] }
  }

  get phase(): AgentPhase {
    return this.s.phase
  }

  /** What the agent judges releases by: its configuration, bucket and ledger registration. */
  get deviceProfile(): DeviceProfile {
    return this.profile
  }

  /**
   * True while the last ledger view's newest block was older than `maxChainAgeMs` when the
   * agent last decided: it starts no download or install then.
   */
  get isChainStale(): boolean {
    return this.stale
  }

  /** The newest version known to be installed (never below the running one). */
  get installedVersion(): string {
    return this.s.installed
  }

  // ---- Boot ----

  private resumePhase(running: SemVer): void {
    const s = this.s
    if (s.phase === 'waiting-for-window') {
      s.phase = 'verifying'
    } else if (s.phase === 'installing') {
      // The hook's outcome is unknown: ask the installer (a hook may reboot the device itself).
      const target = this.target()
      if (compareSemVer(running, parseSemVer(target.version)!) > 0) {
        this.drop('not-eligible', `the device runs ${running.text}, newer than ${target.version}`)
      } else {
        this.toConfirming(false)
      }
    } else if (s.phase === 'pending-reboot' && s.installBoot !== this.bootId) {
      this.log('info', 'pending-reboot', `rebooted since ${this.target().version} was written; confirming it`)
      this.toConfirming(true)
    } else if (s.phase === 'reporting' && !s.reports.some((r) => r.id === s.finalReport)) {
      this.toIdle()
    }
  }

  // ---- The decision ----

  private step(now: number, body: () => void): void {
    // A wall clock can step back (NTP); the agent's time never does.
    this.now = Math.max(this.now, now)
    const mark = this.outputs.length
    body()
    const bytes = encodeAgentState(this.s)
    if (!bytesEqual(bytes, this.lastPersisted)) {
      this.outputs.splice(mark, 0, { type: 'persist', bytes })
      this.lastPersisted = bytes
    }
    this.checkInvariants()
  }

  private evaluate(): void {
    const view = this.view
    if (!view) return
    this.wakeAt = undefined
    if (this.resubmitAtStart) {
      this.resubmitAtStart = false
      for (const output of this.deferred.splice(0)) this.emit(output)
      for (const report of this.s.reports) {
        this.replaceReport({
          ...report,
          nextAt: Math.max(report.nextAt, this.now + this.reportDelay(report.attempts)),
        })
        this.emitReport(report)
      }
    }
    this.resubmitDueReports()
    if (this.s.phase === 'reporting' && !this.s.reports.some((r) => r.id === this.s.finalReport))
      this.toIdle()
    this.checkTarget(view)
    this.checkFreshness(view)
    const phase = this.s.phase
    if (this.stale) {
      // No new target and no replacement while the chain may be withheld: what looks newest
      // on a frozen chain is what the attacker left there.
    } else if (
      phase === 'idle' ||
      phase === 'downloading' ||
      phase === 'verifying' ||
      phase === 'waiting-for-window'
    ) {
      const best = this.bestCandidate(view)
      if (best && phase === 'idle') {
        this.start(best)
      } else if (best && compareSemVer(parseSemVer(best.version)!, parseSemVer(this.target().version)!) > 0) {
        this.drop('superseded', `${best.version} replaces ${this.target().version}`)
        this.start(best)
      }
    }
    this.progress(view)
    for (const report of this.s.reports) this.wake(report.nextAt)
  }

  /** Notes whether the view's chain is too old to act on; logs each change once. */
  private checkFreshness(view: LedgerView): void {
    const max = this.config.maxChainAgeMs
    const age = this.now - view.headTime
    const stale = max !== null && age > max
    if (stale === this.stale) return
    this.stale = stale
    if (stale)
      this.log(
        'warn',
        'chain-stale',
        `the newest block is ${Math.round(age / 1000)} s old, over the ${Math.round(max! / 1000)} s allowed (max_chain_age): starting no download or install until the chain moves`,
      )
    else this.log('info', 'chain-fresh', 'the chain moves again: downloads and installs may start')
  }

  /** Drops the target if it may no longer be installed (revoked, or the config changed). */
  private checkTarget(view: LedgerView): void {
    const phase = this.s.phase
    if (phase !== 'downloading' && phase !== 'verifying' && phase !== 'waiting-for-window') return
    const target = this.target()
    const record = view.release(target.release)
    if (!record) {
      this.drop('not-eligible', `release ${target.release} is not on the ledger`)
      return
    }
    const e = releaseEligibility(record, this.profile, this.installedSemVer, this.now)
    if (e.eligible) return
    if (e.reason === 'revoked') {
      this.drop('revoked', `${record.version} was revoked: ${oneLineShort(record.revoked?.reason ?? '')}`)
    } else {
      this.drop('not-eligible', `${record.version} is no longer eligible (${e.reason})`)
    }
  }

  /** The newest eligible release not given up; notes when a closed wave opens. */
  private bestCandidate(view: LedgerView): ReleaseRecord | undefined {
    let scanned = 0
    let previous: SemVer | undefined
    for (const record of view.releasesOf(this.profile.product, this.profile.channel)) {
      if (++scanned > this.limits.candidatesMax) break
      const version = parseSemVer(record.version)
      if (!version) continue
      assert(
        previous === undefined || compareSemVer(version, previous) <= 0,
        'releasesOf yields newest first',
      )
      previous = version
      if (compareSemVer(version, this.installedSemVer) <= 0) break
      if (this.s.givenUp.includes(record.id)) continue
      const e = releaseEligibility(record, this.profile, this.installedSemVer, this.now)
      if (e.eligible) return record
      if (e.reason === 'wave-closed' && e.opensAt !== undefined) this.wake(e.opensAt)
    }
    return undefined
  }

  /** Asks for whatever the phase needs next. */
  private progress(view: LedgerView): void {
    const s = this.s
    switch (s.phase) {
      case 'downloading': {
        if (s.retryAt !== null && s.retryAt > this.now) {
          this.wake(s.retryAt)
        } else if (this.stale) {
          // A retry (or the resumption after a restart) is a new download: it waits for a
          // fresh view, which `handleLedger` brings.
        } else if (s.retryAt !== null || !this.issued) {
          s.retryAt = null
          this.fetch(this.target())
        }
        return
      }
      case 'verifying': {
        if (this.issued) return
        this.issued = true
        const t = this.target()
        this.emit({
          type: 'verify',
          release: t.release,
          manifest: t.manifest,
          ...(s.imagePath !== null ? { imagePath: s.imagePath } : {}),
        })
        return
      }
      case 'waiting-for-window': {
        if (this.stale) return
        const t = this.target()
        const record = view.release(t.release)
        // checkTarget ran just before, so the record exists and passes releaseEligibility.
        assert(record !== undefined, 'the target is on the ledger')
        const e = installEligibility(record, this.profile, this.installedSemVer, this.config.window, this.now)
        if (e.eligible) {
          this.install(t)
        } else {
          assert(e.reason === 'window-closed' && e.opensAt !== undefined, 'only the window holds back')
          this.wake(e.opensAt)
        }
        return
      }
      case 'confirming': {
        if (s.retryAt !== null && s.retryAt > this.now) {
          this.wake(s.retryAt)
        } else if (!this.issued) {
          s.retryAt = null
          this.issued = true
          const t = this.target()
          this.emit({ type: 'confirm', release: t.release, version: t.version, hookExited: s.hookExited })
        }
        return
      }
      case 'idle':
      case 'installing':
      case 'pending-reboot':
      case 'reporting':
        return
    }
  }

  /** The hook is done (or may have been cut short): ask the installer what runs. */
  private toConfirming(hookExited: boolean): void {
    const s = this.s
    s.phase = 'confirming'
    s.hookExited = hookExited
    s.confirmAttempts = 0
    s.retryAt = null
    this.issued = false
  }

  private fetch(t: AgentTarget): void {
    this.issued = true
    this.emit({
      type: 'fetch',
      release: t.release,
      version: t.version,
      manifest: t.manifest,
      imageSize: t.imageSize,
      imageSha256: t.imageSha256,
    })
  }

  private install(t: AgentTarget): void {
    const version = parseSemVer(t.version)!
    assert(
      compareSemVer(version, this.installedSemVer) > 0,
      'never install a version not newer than the installed one',
    )
    assert(this.s.installAttempts < this.limits.installAttemptsMax, 'install attempts are bounded')
    const s = this.s
    s.phase = 'installing'
    s.installAttempts++
    s.installBoot = this.bootId
    s.hookExited = false
    s.confirmAttempts = 0
    this.issued = true
    this.emit({
      type: 'install',
      release: t.release,
      version: t.version,
      manifest: t.manifest,
      ...(s.imagePath !== null ? { imagePath: s.imagePath } : {}),
    })
    // Committed once an install: a device that goes silent after it is the one to look at.
    if (s.installAttempts === 1) this.enqueueReport('installing')
  }

  // ---- Transitions ----

  private start(record: ReleaseRecord): void {
    const s = this.s
    s.phase = 'downloading'
    s.target = {
      release: record.id,
      version: record.version,
      manifest: record.manifest,
      imageSize: record.imageSize,
      imageSha256: record.imageSha256,
    }
    s.downloadAttempts = 0
    s.installAttempts = 0
    s.retryAt = null
    s.imagePath = null
    s.lastError = null
    this.log('info', 'target-chosen', `updating ${s.installed} → ${record.version} (${record.id})`)
    this.fetch(s.target)
    this.enqueueReport('downloading')
  }

  private downloadFailed(detail: string, discard: boolean): void {
    const s = this.s
    const t = this.target()
    s.downloadAttempts++
    s.lastError = detail
    if (discard)
      this.emit({ type: 'cancel-fetch', release: t.release, manifest: t.manifest, reason: 'bad-image' })
    if (s.downloadAttempts >= this.limits.downloadAttemptsMax) {
      if (!discard)
        this.emit({ type: 'cancel-fetch', release: t.release, manifest: t.manifest, reason: 'given-up' })
      const final = reportDetail(`gave up after ${s.downloadAttempts} download attempts`, detail)
      this.giveUp(final)
      this.finish('failed', final)
      return
    }
    s.phase = 'downloading'
    s.imagePath = null
    s.retryAt = this.now + this.backoff(s.downloadAttempts)
    this.issued = false
    this.log(
      'info',
      'download-retry',
      `${detail}; attempt ${s.downloadAttempts + 1} of ${this.limits.downloadAttemptsMax} at ${s.retryAt}`,
    )
  }

  /** Drops the target without a report (nothing was installed) and discards its image. */
  private drop(reason: CancelReason, why: string): void {
    const t = this.target()
    this.emit({ type: 'cancel-fetch', release: t.release, manifest: t.manifest, reason })
    this.log('info', 'target-dropped', `dropping ${t.version} (${t.release}): ${why}`)
    this.toIdle()
  }

  /** Remembers that the target is not to be tried again. */
  private giveUp(why: string): void {
    const t = this.target()
    this.s.givenUp.push(t.release)
    if (this.s.givenUp.length > this.limits.givenUpMax) this.s.givenUp.shift()
    this.log('warn', 'release-given-up', `giving up ${t.version} (${t.release}): ${why}`)
  }

  /** The outcome is decided: report it and wait for the report to commit. */
  private finish(status: 'confirmed' | 'rolled-back' | 'failed', detail?: string, running?: string): void {
    this.s.finalReport = this.enqueueReport(status, detail, running)
    this.s.phase = 'reporting'
    this.s.retryAt = null
    this.issued = false
  }

  private toIdle(): void {
    const s = this.s
    s.phase = 'idle'
    s.target = null
    s.downloadAttempts = 0
    s.installAttempts = 0
    s.installBoot = null
    s.hookExited = false
    s.confirmAttempts = 0
    s.retryAt = null
    s.imagePath = null
    s.finalReport = null
    this.issued = false
  }

  private setInstalled(version: string): void {
    const parsed = parseSemVer(version)!
    assert(compareSemVer(parsed, this.installedSemVer) >= 0, 'the installed version never goes down')
    this.installedSemVer = parsed
    this.s.installed = version
  }

  // ---- Reports ----

  private enqueueReport(status: ReportStatus, detail?: string, running?: string): number {
    const s = this.s
    const t = this.target()
    if (s.reports.length >= this.limits.pendingReportsMax) {
      const dropped = s.reports.shift()!
      assert(dropped.id !== s.finalReport, 'the outcome report is never the oldest')
      this.log(
        'warn',
        'report-dropped',
        `too many reports pending; dropping the ${dropped.status} report for ${dropped.release}`,
      )
    }
    const report: PendingReport = {
      id: s.nextReportId++,
      status,
      release: t.release,
      imageSha256: t.imageSha256,
      time: this.now,
      ...(detail !== undefined ? { detail: reportDetail(detail) } : {}),
      ...(running !== undefined ? { running } : {}),
      attempts: 1,
      nextAt: this.now + this.reportDelay(1),
    }
    s.reports.push(report)
    this.emitReport(report)
    return report.id
  }

  private resubmitDueReports(): void {
    for (const report of [...this.s.reports]) {
      if (report.nextAt > this.now) continue
      if (report.attempts >= this.limits.reportAttemptsMax) {
        this.removeReport(report.id)
        this.log(
          'warn',
          'report-abandoned',
          `the ${report.status} report for ${report.release} was not seen committed after ${report.attempts} submissions`,
        )
        continue
      }
      const next = {
        ...report,
        attempts: report.attempts + 1,
        nextAt: this.now + this.reportDelay(report.attempts + 1),
      }
      this.replaceReport(next)
      this.emitReport(next)
    }
  }

  private emitReport(r: PendingReport): void {
    if (this.booting) return
    this.emit({
      type: 'report',
      id: r.id,
      status: r.status,
      release: r.release,
      imageSha256: r.imageSha256,
      time: r.time,
      ...(r.detail !== undefined ? { detail: r.detail } : {}),
      ...(r.running !== undefined ? { running: r.running } : {}),
    })
  }

  private replaceReport(report: PendingReport): void {
    const i = this.s.reports.findIndex((r) => r.id === report.id)
    assert(i >= 0, 'the report is pending')
    this.s.reports[i] = report
  }

  private removeReport(id: number): void {
    const i = this.s.reports.findIndex((r) => r.id === id)
    if (i >= 0) this.s.reports.splice(i, 1)
  }

  // ---- Helpers ----

  private expecting(phase: AgentPhase, release: string, what: string): boolean {
    const s = this.s
    const inFlight = (phase !== 'downloading' && phase !== 'confirming') || s.retryAt === null
    if (s.phase === phase && s.target?.release === release && this.issued && inFlight) return true
    this.log('info', 'stale-input', `ignoring a ${what} for ${release}: not waiting for one`)
    return false
  }

  private target(): AgentTarget {
    assert(this.s.target !== null, 'the agent has a target in this phase')
    return this.s.target
  }

  /** Exponential backoff with optional jitter, for download attempt n (1-based) that failed. */
  private backoff(n: number): number {
    return this.jittered(
      Math.min(this.limits.retryBackoffBaseMs * 2 ** (n - 1), this.limits.retryBackoffMaxMs),
    )
  }

  /**
   * The wait after report submission `attempts` before the next: doubling, and jittered like
   * download backoffs. A fleet reports `downloading` within a second of an approval; when the
   * validators' mempools are full, the refused reports must not all come back in the same
   * second a minute later (a 100,000-device simulation without jitter left a quarter of its
   * reports uncommitted after their last attempt: each wave fit one mempool and no more).
   */
  private reportDelay(attempts: number): number {
    return this.jittered(
      Math.min(this.limits.reportTimeoutMs * 2 ** (attempts - 1), this.limits.reportTimeoutMaxMs),
    )
  }

  /** `full` drawn down to somewhere in [full/2, full] when the agent has a PRNG; else `full`. */
  private jittered(full: number): number {
    if (!this.prng) return full
    return Math.floor(full / 2 + this.prng.next() * (full / 2))
  }

  private wake(at: number): void {
    assert(at > this.now, 'a wake-up lies in the future')
    if (this.wakeAt === undefined || at < this.wakeAt) this.wakeAt = at
  }

  private emit(output: AgentOutput): void {
    if (this.booting && output.type !== 'log') {
      this.deferred.push(output)
      return
    }
    this.outputs.push(output)
    assert(this.outputs.length <= AGENT_OUTPUTS_MAX, 'the driver polls the agent after every input')
  }

  private log(level: 'info' | 'warn', event: AgentLogEvent, message: string): void {
    this.emit({ type: 'log', level, event, message })
  }

  private checkInvariants(): void {
    const s = this.s
    assert((s.phase === 'idle') === (s.target === null), 'a target exactly outside idle')
    assert(s.reports.length <= this.limits.pendingReportsMax, 'pending reports are bounded')
    assert(s.givenUp.length <= this.limits.givenUpMax, 'given-up releases are bounded')
    assert(s.downloadAttempts <= this.limits.downloadAttemptsMax, 'download attempts are bounded')
    assert(s.installAttempts <= this.limits.installAttemptsMax, 'install attempts are bounded')
    assert(s.confirmAttempts <= this.limits.confirmAttemptsMax, 'confirmations are bounded')
  }
}

function oneLineShort(text: string): string {
  return reportDetail(text, '', 120)
}
