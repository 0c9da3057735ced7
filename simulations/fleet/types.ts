/**
 * The fleet simulator's inputs and outputs (fleet.ts runs it): the options of a run, the
 * capacity of a device, progress, and the result with its details and time series.
 */
import type { ConsensusLimits } from '../../src/consensus/limits.js'
import type { RolloutPlan } from '../../src/ledger/tx.js'
import type { CpuModel } from './cpu.js'

export interface DeviceCapacity {
  readonly uploadBitsPerSec: number
  readonly downloadBitsPerSec: number
  /** One-way latency of the device's access link. */
  readonly accessMs: number
  /** Bandwidth class name, for the per-class breakdown. */
  readonly className: string
}

export interface FleetOptions {
  readonly seed: number
  readonly devices: number
  readonly imageBytes: number
  readonly chunkBytes: number
  readonly validators: number
  readonly originUploadBitsPerSec: number
  /** Capacity of device i. */
  readonly capacity: (i: number) => DeviceCapacity
  /** When set, every link's one-way latency is exactly this (the fidelity comparison uses it). */
  readonly linkLatencyMs?: number
  /** Share of devices that serve corrupted chunks (and never install). */
  readonly maliciousShare?: number
  /** Probability that a chunk-protocol control message (request, cancel, not-found, have-update) is lost. */
  readonly loss?: number
  /** Devices that disconnect once and rejoin, relative to the approval commit. */
  readonly churn?: {
    readonly share: number
    readonly windowMs: number
    readonly offlineMinMs: number
    readonly offlineMaxMs: number
  }
  /** One region is cut off from the rest for a while, relative to the approval commit. */
  readonly partition?: { readonly region: number; readonly fromMs: number; readonly durationMs: number }
  /** A validator crashes, relative to the approval commit. */
  readonly validatorCrash?: { readonly validator: number; readonly atMs: number }
  /**
   * Share of honest devices whose install hook fails (picked from the seed): each reports
   * `failed` once and gives the release up, which a wave's failure threshold counts.
   */
  readonly installFailureShare?: number
  /**
   * End the run this long after its start instead of when every honest device installed (a
   * rollout that halts never gets there): the run is then finished, not stuck.
   */
  readonly runForMs?: number
  /** Rollout waves of the release; default one wave of 100 % at once. */
  readonly waves?: RolloutPlan['waves']
  /** Called every so many events with progress. */
  readonly progress?: (p: FleetProgress) => void
  /** Chunk neighbours each device dials (OVERLAY_DIALS_PER_DEVICE unless set). */
  readonly overlayDials?: number
  /** Have-update batching interval (HAVE_BATCH_MS unless set). */
  readonly haveBatchMs?: number
  /** What moving chunks costs the nodes' CPUs (cpu.ts); links only when unset. */
  readonly cpu?: CpuModel
  /** Consensus limits; the real defaults unless set. */
  readonly consensusLimits?: Partial<ConsensusLimits>
}

export interface FleetProgress {
  readonly simSeconds: number
  readonly downloaded: number
  readonly reportsCommitted: number
  readonly honestDevices: number
  readonly events: number
}

export interface Percentiles {
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

export interface FleetResult {
  readonly devices: number
  readonly imageMiB: number
  readonly seed: number
  readonly events: number
  readonly simSeconds: Percentiles
  readonly lowerBoundSeconds: number
  readonly clientServerSeconds: number
  readonly ratioToBound: number
  /**
   * Max over honest devices of (completion − time offline before completing) / bound: the
   * ratio with the time churned devices spent disconnected taken out (equal to ratioToBound
   * without churn).
   */
  readonly ratioToBoundOnline: number
  readonly originEgressCopies: number
  readonly announcementP99Ms: number
  readonly reportsCommitted: number
  readonly reportCommitP99Ms: number
  readonly details: FleetDetails
  /** Per device: seconds from the approval commit to the whole verified image (NaN: never). */
  readonly completionSeconds: Float64Array
  /** Per device: seconds it spent offline (churn) before it completed. */
  readonly offlineSeconds: Float64Array
  readonly series: FleetSeries
}

export interface FleetDetails {
  readonly honestDevices: number
  readonly maliciousDevices: number
  readonly installed: number
  readonly downloaded: number
  /** Every report (downloading, installed) of every honest device, committed. */
  readonly allReportsCommitted: boolean
  readonly boundBinding: string
  /** Bans of malicious neighbours by honest devices, and of honest neighbours (stalls). */
  readonly bansOfMalicious: number
  readonly bansOfHonest: number
  /** Malicious devices banned by at least one honest neighbour, of those that served anyone. */
  readonly maliciousBannedByAnyone: number
  readonly maliciousServedAnyone: number
  readonly churnedDevices: number
  readonly viewChanges: number
  readonly height: number
  readonly violations: readonly string[]
  /** Virtual seconds from the approval commit to the last honest confirmed report committed. */
  readonly finishedSeconds: number
  /** Time each device first fetched, seconds after approval (waves). */
  readonly firstFetchSeconds: readonly number[]
  readonly rolloutBucketOf: readonly number[]
  /** Each device's region (a partition cuts one off). */
  readonly regionOf: readonly number[]
  /** Seconds after approval at which each device's confirmed report committed (NaN: never). */
  readonly installedCommitSeconds: readonly number[]
  /** Devices whose install hook failed (installFailureShare). */
  readonly installFailures: number
  /** The release's halt by a wave's failure threshold at the end of the run, if it halted. */
  readonly rolloutHalt: {
    readonly wave: number
    readonly percent: number
    readonly failures: number
    readonly targeted: number
  } | null
  readonly stuck: boolean
}

export interface FleetSeries {
  readonly completion: ReadonlyArray<readonly [number, number]>
  readonly originBps: ReadonlyArray<readonly [number, number]>
  readonly peerBps: ReadonlyArray<readonly [number, number]>
  readonly classes: ReadonlyArray<{ name: string; devices: number; p50: number; p90: number; max: number }>
}
