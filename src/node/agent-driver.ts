import { randomBytes } from 'node:crypto'
import { open, readFile, statfs } from 'node:fs/promises'
import { uptime } from 'node:os'
import { dirname } from 'node:path'
import {
  type AgentOutput,
  awaitsApproval,
  DeviceAgent,
  type LedgerView,
  ledgerView,
  parseMaintenanceWindow,
  releaseEligibility,
} from '../agent/index.js'
import { parseCid } from '../codec/cid.js'
import { BOOT_ID_LENGTH_MAX, STATUS_RELEASES_MAX } from '../constants.js'
import type { KeyPair } from '../crypto/ed25519.js'
import { compareSemVer, parseSemVer } from '../ledger/semver.js'
import { signTx, type TxBody } from '../ledger/tx.js'
import { Prng } from '../prng.js'
import { writeAtomically } from './atomic-file.js'
import { type Clock, systemClock } from './clock.js'
import type { DeviceConfig } from './config.js'
import { confirmInstall, readVersionFile } from './confirm-hook.js'
import type { Gossip } from './gossip.js'
import { runInstallHook } from './install-hook.js'
import type { LedgerDriver } from './ledger-driver.js'
import type { Logger } from './log.js'
import type { ProgressPublisher } from './progress-gossip.js'
import { hashFile } from './store/file-reads.js'
import { clampTimerDelay } from './timers.js'

/**
 * What the agent needs from the transfer side: fetch an image by its manifest (resuming),
 * drop one, and tell where a complete image lives.
 */
export interface ImageFetcher {
  fetch(
    manifest: string,
    release: { id: string; imageSize: number; imageSha256: Uint8Array },
  ): Promise<FetchResult>
  cancel(manifest: string): Promise<void>
  /**
   * Deletes every image but `keep`'s, except the ones this node published. Returns the manifests
   * deleted.
   */
  dropAllBut(keep: string): Promise<string[]>
  imagePath(manifest: string): string
  /** Bytes of the image's file on disk (its allocated blocks: a partial download is sparse); 0 when there is none. */
  bytesOnDisk(manifest: string): Promise<number>
  /**
   * Fetches a manifest ahead of need, and learns which neighbours hold the image, so that a
   * later `fetch` of it starts its download at once. Best effort: a failure is forgotten.
   */
  prefetchManifest(manifest: string): void
}

/** A download's end; `noSpace` when the disk filled up while it wrote (ENOSPC). */
export type FetchResult = { ok: true; path: string } | { ok: false; reason: string; noSpace?: boolean }

/** Free bytes an unprivileged process may still write on the file system holding `dir`. */
export type FreeSpace = (dir: string) => Promise<number>

/** What node:fs measures: the blocks available to unprivileged users (root's reserve left out). */
export const freeSpaceOf: FreeSpace = async (dir) => {
  const s = await statfs(dir)
  return s.bavail * s.bsize
}

/** Reading a file of whole images, a block at a time. */
const HASH_BLOCK_BYTES = 1024 * 1024
/** How long a report waits for its commit before the agent's own timeout takes over. */
const REPORT_COMMIT_WAIT_MS = 60_000

/**
 * Drives the pure `DeviceAgent` on a device: feeds it every committed ledger state, carries
 * out its commands (fetch, verify, install through the hook, sign and submit reports) and
 * persists its state atomically before acting on anything after a `persist`.
 */
export class AgentDriver {
  private timer: NodeJS.Timeout | undefined
  private readonly queue: AgentOutput[] = []
  private running = false
  private stopped = false
  /** A look at the ledger is queued for the end of this turn (onLedgerSoon). */
  private ledgerPending = false
  /** The manifest last asked for ahead of an approval (prefetchManifest). */
  private prefetched: string | undefined

  private constructor(
    private readonly agent: DeviceAgent,
    private readonly config: DeviceConfig,
    private readonly keys: KeyPair,
    private readonly statePath: string,
    private readonly ledger: LedgerDriver,
    private readonly gossip: Gossip,
    private readonly images: ImageFetcher,
    private readonly log: Logger,
    /** Tells the mesh where the device stands on a release (`fwmesh rollout status`). */
    private readonly progress: ProgressPublisher | null,
    private readonly freeSpace: FreeSpace,
    /** The node's clock: the agent core's time (rollout waves, windows, reports). */
    private readonly clock: Clock,
  ) {}

  static async start(options: {
    config: DeviceConfig
    keys: KeyPair
    statePath: string
    ledger: LedgerDriver
    gossip: Gossip
    images: ImageFetcher
    log: Logger
    /** The oldest the newest block may be for the agent to start a download or install. */
    maxChainAgeMs: number
    progress?: ProgressPublisher
    /** How free space is measured before a download (tests hand in a small disk). */
    freeSpace?: FreeSpace
    /** The node's clock; the system clock by default. */
    clock?: Clock
  }): Promise<AgentDriver> {
    const { config } = options
    const clock = options.clock ?? systemClock
    let window = null
    if (config.maintenanceWindow) {
      const parsed = parseMaintenanceWindow(config.maintenanceWindow, 'device.maintenance_window')
      if (!parsed.ok) throw new Error(parsed.error.message)
      window = parsed.value
    }
    const runningVersion = await readRunningVersion(config)
    const bootId = await readBootId(config.bootIdFile, clock)
    const state = await readFile(options.statePath).catch(() => undefined)
    const booted = DeviceAgent.boot(
      {
        publicKey: options.keys.publicKey,
        product: config.product,
        hardware: config.hardware,
        channel: config.channel,
        window,
        maxChainAgeMs: options.maxChainAgeMs,
      },
      // Jitter for retries: a fleet that saw one approval must not retry in lockstep.
      { runningVersion, bootId, now: clock.now(), state, prng: Prng.fromBytes(randomBytes(32)) },
    )
    if (!booted.ok) throw new Error(booted.error.message)
    const driver = new AgentDriver(
      booted.value,
      config,
      options.keys,
      options.statePath,
      options.ledger,
      options.gossip,
      options.images,
      options.log,
      options.progress ?? null,
      options.freeSpace ?? freeSpaceOf,
      clock,
    )
    // The agent reads the core's state (`ledger.ledger`), which holds a block as soon as it is
    // certified; it need not wait for the store's write (LedgerDriverEvents.certified).
    options.ledger.on('certified', () => driver.onLedgerSoon())
    driver.onLedger()
    return driver
  }

  /**
   * What `fwmesh status` shows of the device, including why each recent release of its
   * product is or is not being installed (`not-approved`, `other-hardware`, `registration-mismatch`,
   * `not-newer`, …).
   */
  status() {
    const s = this.agent.state
    const installed = parseSemVer(this.agent.installedVersion)
    const profile = this.agent.deviceProfile
    const registered = profile.registration
    const now = this.clock.now()
    const releases = [...this.ledger.ledger.releases.entries()]
      .map(([, r]) => r)
      .filter((r) => r.product === this.config.product)
      .sort((a, b) => b.publishedAt - a.publishedAt)
      .slice(0, STATUS_RELEASES_MAX)
      .map((r) => {
        // A release the agent gave up on (failed, rolled back) is never tried again on this
        // device, however eligible the ledger alone would find it.
        const verdict = s.givenUp.includes(r.id)
          ? { eligible: false as const, reason: 'given-up' as const }
          : installed
            ? releaseEligibility(r, profile, installed, now)
            : { eligible: false as const, reason: 'bad-version' as const }
        return {
          release: r.id,
          version: r.version,
          channel: r.channel,
          eligible: verdict.eligible,
          ...(verdict.eligible ? {} : { reason: verdict.reason }),
        }
      })
    return {
      product: this.config.product,
      hardware: this.config.hardware,
      channel: this.config.channel,
      // What the ledger registered the device as (null: not registered, so its reports are refused).
      registered: registered ? { product: registered.product, hardware: registered.hardware } : null,
      installedVersion: this.agent.installedVersion,
      phase: this.agent.phase,
      target: s.target ? { release: s.target.release, version: s.target.version } : null,
      // Why the current target is not installed yet: the last failure and the attempts so far.
      lastError: s.lastError,
      downloadAttempts: s.downloadAttempts,
      // The chain was too old at the last decision: no download or install starts.
      chainStale: this.agent.isChainStale,
      releases,
    }
  }

  /**
   * Looks at the ledger once the current turn's blocks are in: a sync response certifies many
   * blocks in one turn, and the agent's view is built once for them, not once a block.
   */
  private onLedgerSoon(): void {
    if (this.ledgerPending) return
    this.ledgerPending = true
    queueMicrotask(() => {
      this.ledgerPending = false
      this.onLedger()
    })
  }

  private onLedger(): void {
    if (this.stopped) return
    const view = ledgerView(this.ledger.ledger)
    this.agent.handleLedger(view, this.clock.now())
    this.prefetchManifest(view)
    this.pump()
  }

  /**
   * Asks for the manifest of the newest release that is for this device and newer than what it
   * runs, approved or not (`awaitsApproval`): a release is published before it is approved,
   * so when the approval commits the device already holds the manifest and knows who holds
   * the image, and its download starts without the two round trips (manifest, then the
   * holders' `have`) that came after the approval.
   */
  private prefetchManifest(view: LedgerView): void {
    const installed = parseSemVer(this.agent.installedVersion)
    if (!installed) return
    const profile = this.agent.deviceProfile
    for (const release of view.releasesOf(this.config.product, this.config.channel)) {
      // Newest version first: past the installed version nothing is newer.
      const version = parseSemVer(release.version)
      if (!version || compareSemVer(version, installed) <= 0) return
      if (!awaitsApproval(release, profile, installed)) continue
      if (release.manifest !== this.prefetched) {
        this.prefetched = release.manifest
        this.images.prefetchManifest(release.manifest)
      }
      return
    }
  }

  private pump(): void {
    if (this.stopped) return
    this.queue.push(...this.agent.takeOutputs())
    this.startFetchesEarly()
    if (!this.running) void this.run()
    if (this.timer) clearTimeout(this.timer)
    const at = this.agent.nextTickAt()
    if (at !== undefined) {
      this.timer = setTimeout(
        () => {
          this.agent.handleTick(this.clock.now())
          this.pump()
        },
        // A wave or window days ahead: the timer wakes early and arms again (timers.ts).
        clampTimerDelay(at - this.clock.now()),
      )
    }
  }

  /**
   * Starts a fetch that waits in the queue only behind persists and log lines. A download does
   * not depend on the agent's state being durable (after a crash the agent chooses the release
   * again and the download resumes from what it holds), while a persist's fsync took 0.2-1.3 s
   * on a disk shared by 20 nodes, all of it added to the time to a device's first chunk.
   * Nothing else is reordered: a fetch never passes a cancel-fetch, a verify or an install.
   */
  private startFetchesEarly(): void {
    for (let i = 0; i < this.queue.length; i++) {
      const out = this.queue[i]!
      if (out.type === 'fetch') {
        this.queue.splice(i, 1)
        i--
        this.carryOut(out).catch((cause: Error) =>
          this.log.error({ output: out.type, err: cause.message }, 'carrying out an agent command failed'),
        )
      } else if (out.type !== 'persist' && out.type !== 'log') {
        return
      }
    }
  }

  /** Carries out outputs in order; a persist completes before the next output starts. */
  private async run(): Promise<void> {
    this.running = true
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const out = this.queue.shift()!
        try {
          await this.carryOut(out)
        } catch (cause) {
          this.log.error(
            { output: out.type, err: (cause as Error).message },
            'carrying out an agent command failed',
          )
        }
      }
    } finally {
      this.running = false
    }
  }

  private async carryOut(out: AgentOutput): Promise<void> {
    switch (out.type) {
      case 'persist':
        await writeAtomically(this.statePath, out.bytes)
        return
      case 'log':
        this.log[out.level]({ event: out.event }, out.message)
        return
      case 'fetch': {
        // A device keeps one image: the one it installs next. The older ones were installed (the
        // hook took its own copy, or a link) or given up; kept, each release would add an image
        // to the disk. The download has the room they took.
        const dropped = await this.images.dropAllBut(out.manifest)
        if (dropped.length > 0) this.log.info({ dropped }, 'deleted the images of earlier releases')
        // Room for the rest of the image first: a download that cannot finish must not fill the disk.
        if (!(await this.roomFor(out.release, out.manifest))) {
          this.pump()
          return
        }
        this.log.debug({ release: out.release, manifest: out.manifest }, 'fetching the image')
        this.progress?.update({ release: out.release, state: 'downloading', manifest: out.manifest })
        // Downloads run beside the queue: a persist must not wait for a whole image.
        void this.images
          .fetch(out.manifest, { id: out.release, imageSize: out.imageSize, imageSha256: out.imageSha256 })
          .then(
            async (r) => {
              if (r.ok) this.agent.handleDownloaded(out.release, this.clock.now(), r.path)
              // The disk filled up anyway (something else wrote to it): the same failure as
              // finding no room before the start, measured now.
              else if (r.noSpace && !(await this.roomFor(out.release, out.manifest))) return
              else this.agent.handleDownloadFailed(out.release, r.reason, this.clock.now())
            },
            // A fetch that throws (an I/O error opening the image) is a failed attempt too: the
            // agent retries with backoff and reports `failed` in the end, instead of waiting forever.
            (cause: Error) => this.agent.handleDownloadFailed(out.release, cause.message, this.clock.now()),
          )
          .then(() => this.pump())
        return
      }
      case 'cancel-fetch':
        await this.images.cancel(out.manifest)
        return
      case 'verify': {
        this.progress?.update({ release: out.release, state: 'verifying' })
        const path = out.imagePath ?? this.images.imagePath(out.manifest)
        try {
          const handle = await open(path, 'r')
          try {
            const size = (await handle.stat()).size
            const digest = await hashFile(handle, size, HASH_BLOCK_BYTES)
            this.agent.handleVerified(out.release, digest, this.clock.now())
          } finally {
            await handle.close()
          }
        } catch (cause) {
          this.agent.handleVerifyFailed(out.release, (cause as Error).message, this.clock.now())
        }
        this.pump()
        return
      }
      case 'install': {
        this.progress?.update({ release: out.release, state: 'installing' })
        const outcome = await runInstallHook(
          {
            command: this.config.installCommand,
            timeoutMs: this.config.installTimeoutMs,
            env: this.config.installEnv,
            // The hook runs in the node's data directory (where the agent keeps its state), not
            // wherever the node was started: two devices on one host, started from one folder,
            // each get their own relative paths (FWMESH_INSTALL_DIR = "installed").
            cwd: dirname(this.statePath),
          },
          {
            imagePath: out.imagePath ?? this.images.imagePath(out.manifest),
            version: out.version,
            release: out.release,
            product: this.config.product,
            hardware: this.config.hardware,
          },
        )
        this.log.info({ release: out.release, version: out.version, ok: outcome.ok }, 'install hook finished')
        this.agent.handleInstallDone(out.release, outcome, this.clock.now())
        this.pump()
        return
      }
      case 'confirm': {
        const c = this.config
        const outcome = await confirmInstall(
          {
            hook: c.confirmCommand
              ? {
                  command: c.confirmCommand,
                  timeoutMs: c.confirmTimeoutMs,
                  env: c.installEnv,
                  cwd: dirname(this.statePath),
                }
              : null,
            versionFile: c.versionFile,
          },
          {
            imagePath: '',
            version: out.version,
            release: out.release,
            product: c.product,
            hardware: c.hardware,
          },
          out.hookExited,
        )
        this.log.info({ release: out.release, version: out.version, outcome }, 'confirm step finished')
        this.agent.handleConfirmDone(out.release, outcome, this.clock.now())
        this.pump()
        return
      }
      case 'report': {
        // Downloading and installing were told when they began (fetch, install).
        if (out.status === 'pending-reboot' || out.status === 'confirmed')
          this.progress?.update({ release: out.release, state: out.status })
        else if (out.status === 'failed' || out.status === 'rolled-back')
          this.progress?.update({ release: out.release, state: out.status, reason: out.detail ?? out.status })
        const release = parseCid(out.release)
        if (!release) {
          this.agent.handleReportRejected(
            out.id,
            'tx.malformed',
            this.clock.now(),
            'the release id is not a CID',
          )
          this.pump()
          return
        }
        const body = {
          type: 'install.report',
          chain: this.ledger.ledger.genesis.chainId,
          signer: this.keys.publicKey,
          nonce: out.id,
          release,
          device: this.keys.publicKey,
          status: out.status,
          imageSha256: out.imageSha256,
          time: out.time,
          ...(out.detail !== undefined ? { detail: out.detail } : {}),
          ...(out.running !== undefined ? { running: out.running } : {}),
        } as TxBody
        const tx = signTx(body, this.keys)
        const submitted = this.ledger.submit(tx, 'local')
        if (submitted.status === 'rejected') {
          const code = submitted.rejection.code
          // Already on the ledger: the report is done.
          if (code === 'tx.duplicate') this.agent.handleReportCommitted(out.id, this.clock.now())
          else this.agent.handleReportRejected(out.id, code, this.clock.now(), submitted.rejection.message)
          this.pump()
          return
        }
        if (submitted.status === 'committed') {
          this.agent.handleReportCommitted(out.id, this.clock.now())
          this.pump()
          return
        }
        // A report decided at start (a confirmation after a reboot) comes before the node has
        // neighbours: gossiped once, it was lost until the agent's own resubmission a minute on.
        await this.gossip.publishTxUntilSent(
          tx,
          () => this.stopped || this.ledger.ledger.txs.has(tx.idString),
        )
        void this.ledger.waitForCommit(tx.idString, REPORT_COMMIT_WAIT_MS).then((outcome) => {
          if (outcome.status === 'committed') {
            this.agent.handleReportCommitted(out.id, this.clock.now())
            this.pump()
          }
        })
        return
      }
    }
  }

  /**
   * Measures the data directory's free space and the image's bytes already on disk, and lets
   * the agent decide whether the download may start (it reports `insufficient space` when not).
   * A measurement that fails (a platform without statfs) does not hold a download back.
   */
  private async roomFor(release: string, manifest: string): Promise<boolean> {
    let freeBytes: number
    let heldBytes: number
    try {
      ;[freeBytes, heldBytes] = await Promise.all([
        this.freeSpace(dirname(this.images.imagePath(manifest))),
        this.images.bytesOnDisk(manifest),
      ])
    } catch (cause) {
      this.log.warn({ release, err: (cause as Error).message }, 'could not measure free disk space')
      return true
    }
    const go = this.agent.handleDiskSpace(release, { freeBytes, heldBytes }, this.clock.now())
    if (!go) this.log.warn({ release, freeBytes, heldBytes }, 'not enough free disk space for the image')
    return go
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.progress?.stop()
    if (this.timer) clearTimeout(this.timer)
    while (this.running) await new Promise((r) => setTimeout(r, 5))
  }
}

async function readRunningVersion(config: DeviceConfig): Promise<string> {
  if (!config.versionFile) return config.initialVersion
  return (await readVersionFile(config.versionFile)) ?? config.initialVersion
}

/**
 * This boot's id: the file's content (Linux's boot_id by default), or, where it cannot be read,
 * the boot time to the minute from the uptime, which tells boots apart as well for the agent.
 */
async function readBootId(path: string, clock: Clock): Promise<string> {
  try {
    const id = (await readFile(path, 'utf8')).trim()
    if (id.length > 0) return id.slice(0, BOOT_ID_LENGTH_MAX)
  } catch {
    // Not Linux, or a container without /proc: fall through.
  }
  return `booted@${Math.round((clock.now() - uptime() * 1000) / 60_000)}`
}
