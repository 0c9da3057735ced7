import {
  checkProgress,
  decodeProgress,
  encodeProgress,
  type ProgressErrorCode,
  type ProgressState,
  ProgressTable,
} from '../agent/progress.js'
import { parseCid } from '../codec/cid.js'
import { PROGRESS_INTERVAL_MS } from '../constants.js'
import type { KeyPair } from '../crypto/ed25519.js'
import { type Clock, systemClock } from './clock.js'
import type { Gossip } from './gossip.js'
import type { GossipVerdict } from './ledger-driver.js'
import type { Logger } from './log.js'

/**
 * Rollout progress on the mesh, a node's side: every node keeps the newest progress message per
 * (release, device) of registered devices (the table, src/agent/progress.ts) and judges each
 * message before gossipsub forwards it; a device node also publishes its own.
 *
 * Verdicts: a forgery, garbage, an oversized message or one for another chain is rejected (it
 * counts against the neighbour that forwarded it, like a forged transaction); a message of a
 * device not registered (yet), one dated out of bounds (a device's clock may be off) or one
 * older than what the table holds is ignored: dropped, not forwarded, nobody penalised.
 */
export class RolloutProgress {
  readonly table = new ProgressTable()
  /** Messages refused since the node started, by reason (logs, tests). */
  readonly refused: Partial<Record<ProgressErrorCode, number>> = {}

  constructor(
    private readonly chain: string,
    private readonly isRegistered: (device: Uint8Array) => boolean,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  /** The topic validator's verdict on a message from the mesh; an accepted one is kept. */
  judge(from: string, data: Uint8Array): GossipVerdict {
    const decoded = decodeProgress(data, this.chain)
    const fault = decoded.ok
      ? checkProgress(decoded.value, this.isRegistered, this.clock.now())
      : decoded.error
    if (fault) {
      this.refused[fault.code] = (this.refused[fault.code] ?? 0) + 1
      this.log.debug({ from, code: fault.code, err: fault.message }, 'refused a progress message')
      const honest = fault.code === 'unregistered' || fault.code === 'future' || fault.code === 'too-old'
      return honest ? 'ignore' : 'reject'
    }
    if (!decoded.ok) return 'reject'
    return this.table.offer(decoded.value) === 'stored' ? 'accept' : 'ignore'
  }
}

/** What a device publishes: where its work on a release stands. */
export interface ProgressUpdate {
  readonly release: string
  readonly state: ProgressState
  /** The image's manifest, for the percent of a download. */
  readonly manifest?: string
  /** For `failed`. */
  readonly reason?: string
}

/**
 * A device's own progress messages: one when its state on a release changes, and while it
 * downloads one every PROGRESS_INTERVAL_MS at most, only when the percent moved. Each is also
 * put in the device node's own table (gossipsub does not deliver a node's messages to itself).
 */
export class ProgressPublisher {
  private last: { release: string; state: ProgressState; percent?: number; time: number } | undefined
  private timer: NodeJS.Timeout | undefined
  private stopped = false

  constructor(
    private readonly keys: KeyPair,
    private readonly chain: string,
    private readonly gossip: Gossip,
    private readonly progress: RolloutProgress,
    /** Percent (0-100) of an image held, by manifest; undefined when unknown. */
    private readonly percentOf: (manifest: string) => number | undefined,
    private readonly log: Logger,
    /** The time each message carries (a device's own clock, checked by every node). */
    private readonly clock: Clock = systemClock,
  ) {}

  update(u: ProgressUpdate): void {
    if (this.stopped) return
    if (this.last?.release === u.release && this.last.state === u.state && u.state !== 'downloading') return
    this.stopTimer()
    this.send(u)
    if (u.state === 'downloading' && u.manifest !== undefined) {
      const manifest = u.manifest
      this.timer = setInterval(() => {
        const percent = this.percentOf(manifest)
        if (percent !== undefined && percent !== this.last?.percent) this.send(u)
      }, PROGRESS_INTERVAL_MS)
      this.timer.unref()
    }
  }

  private send(u: ProgressUpdate): void {
    const release = parseCid(u.release)
    if (!release) return
    const percent =
      u.state === 'downloading' && u.manifest !== undefined ? (this.percentOf(u.manifest) ?? 0) : undefined
    // Strictly later than the last message: a node keeps a device's newest, and drops equals.
    const time = Math.max(this.clock.now(), (this.last?.time ?? 0) + 1)
    const data = encodeProgress(
      {
        chain: this.chain,
        release,
        device: this.keys.publicKey,
        state: u.state,
        time,
        ...(percent === undefined ? {} : { percent }),
        ...(u.reason === undefined ? {} : { reason: u.reason }),
      },
      this.keys.secretKey,
    )
    this.last = { release: u.release, state: u.state, time, ...(percent === undefined ? {} : { percent }) }
    this.progress.judge('self', data)
    this.log.debug({ release: u.release, state: u.state, percent }, 'progress published')
    void this.gossip.publishProgress(data)
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }

  stop(): void {
    this.stopped = true
    this.stopTimer()
  }
}
