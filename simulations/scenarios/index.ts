/**
 * Fleet scenarios (issue 6) and the function API behind `npm run sim -- rollout`.
 *
 * `runFleetScenario(options)` runs one scenario, optionally with explicit capacities (origin
 * upload, every device's upload and download, one link latency for every link, the number of
 * validators) for comparisons against real processes, and returns the summary the CLI prints
 * (without wall time and memory), the full result, and each device's completion time.
 *
 * simSeconds of a device: virtual seconds from the moment the release's approval is committed
 * (by the first validator) to the moment the device holds the whole image with every chunk
 * verified against the manifest. ratioToBound = simSeconds.max / lowerBoundSeconds, where the
 * bound is max(F/u_origin, F/d_min, N·F/(u_origin + Σu_i)) over the honest devices.
 * ratioToBoundOnline = max over honest devices of (simSeconds − seconds spent offline before
 * completing) / lowerBoundSeconds: the same ratio with churned devices' disconnected time taken
 * out, so it measures the recovery after a rejoin rather than the outage (a cellular device
 * offline 10 s cannot finish before ~1.37× the heterogeneous bound). Without churn the two are
 * equal.
 */
import type { CpuModel } from '../fleet/cpu.js'
import type { DeviceCapacity, FleetOptions, FleetProgress, FleetResult } from '../fleet/fleet.js'
import { runFleet, withVerifyMemo } from '../fleet/fleet.js'
import { churn } from './churn.js'
import type { Scenario, ScenarioInput } from './common.js'
import { halt } from './halt.js'
import { heterogeneous } from './heterogeneous.js'
import { malicious } from './malicious.js'
import { partition } from './partition.js'
import { rollout } from './rollout.js'
import { validatorCrash } from './validator-crash.js'
import { waves } from './waves.js'

export type { Scenario, ScenarioInput } from './common.js'

export const SCENARIOS: readonly Scenario[] = [
  rollout,
  heterogeneous,
  churn,
  malicious,
  partition,
  validatorCrash,
  waves,
  halt,
]

export function scenarioNamed(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name)
}

export interface FleetScenarioOptions extends ScenarioInput {
  /** A name from SCENARIOS; `rollout` unless set. */
  readonly scenario?: string
  /** Explicit capacities, replacing the scenario's (bits per second). */
  readonly originUploadBitsPerSec?: number
  readonly deviceUploadBitsPerSec?: number
  readonly deviceDownloadBitsPerSec?: number
  /** One-way latency of every link, replacing the regional model. */
  readonly linkLatencyMs?: number
  readonly validators?: number
  /** The CPU model (fleet/cpu.ts); links only when unset. */
  readonly cpu?: CpuModel
  readonly progress?: (p: FleetProgress) => void
}

/** The JSON object `npm run sim -- rollout --json` prints, minus wallSeconds and peakRssMB. */
export type RolloutSummary = Pick<
  FleetResult,
  | 'devices'
  | 'imageMiB'
  | 'seed'
  | 'events'
  | 'simSeconds'
  | 'lowerBoundSeconds'
  | 'clientServerSeconds'
  | 'ratioToBound'
  | 'ratioToBoundOnline'
  | 'originEgressCopies'
  | 'announcementP99Ms'
  | 'reportsCommitted'
  | 'reportCommitP99Ms'
> & {
  readonly scenario: string
  /** The details without the per-device arrays. */
  readonly details: Omit<
    FleetResult['details'],
    'firstFetchSeconds' | 'rolloutBucketOf' | 'regionOf' | 'installedCommitSeconds'
  >
}

export interface FleetScenarioResult {
  readonly summary: RolloutSummary
  readonly result: FleetResult
  /** Per device, seconds from the approval commit to the verified image (NaN: never). */
  readonly completionSeconds: Float64Array
  readonly options: FleetOptions
}

/** The fleet options a scenario run uses, with any explicit capacities applied. */
export function fleetOptionsFor(options: FleetScenarioOptions): FleetOptions {
  const name = options.scenario ?? 'rollout'
  const scenario = scenarioNamed(name)
  if (!scenario) throw new RangeError(`unknown scenario "${name}"`)
  let fleet = scenario.build(options)
  const up = options.deviceUploadBitsPerSec
  const down = options.deviceDownloadBitsPerSec
  if (up !== undefined || down !== undefined) {
    const base = fleet.capacity
    fleet = {
      ...fleet,
      capacity: (i): DeviceCapacity => {
        const c = base(i)
        return {
          ...c,
          uploadBitsPerSec: up ?? c.uploadBitsPerSec,
          downloadBitsPerSec: down ?? c.downloadBitsPerSec,
          className: 'explicit',
        }
      },
    }
  }
  return {
    ...fleet,
    ...(options.originUploadBitsPerSec !== undefined
      ? { originUploadBitsPerSec: options.originUploadBitsPerSec }
      : {}),
    ...(options.linkLatencyMs !== undefined ? { linkLatencyMs: options.linkLatencyMs } : {}),
    ...(options.validators !== undefined ? { validators: options.validators } : {}),
    ...(options.cpu ? { cpu: options.cpu } : {}),
    ...(options.progress ? { progress: options.progress } : {}),
  }
}

/** Runs one scenario (see the module comment). Deterministic: the same options, the same result. */
export function runFleetScenario(options: FleetScenarioOptions): FleetScenarioResult {
  const fleet = fleetOptionsFor(options)
  const result = withVerifyMemo(() => runFleet(fleet))
  return {
    summary: summarize(options.scenario ?? 'rollout', result),
    result,
    completionSeconds: result.completionSeconds,
    options: fleet,
  }
}

export function summarize(scenario: string, r: FleetResult): RolloutSummary {
  const {
    firstFetchSeconds: _f,
    rolloutBucketOf: _b,
    regionOf: _r,
    installedCommitSeconds: _c,
    ...details
  } = r.details
  return {
    devices: r.devices,
    imageMiB: r.imageMiB,
    seed: r.seed,
    events: r.events,
    simSeconds: r.simSeconds,
    lowerBoundSeconds: r.lowerBoundSeconds,
    clientServerSeconds: r.clientServerSeconds,
    ratioToBound: r.ratioToBound,
    ratioToBoundOnline: r.ratioToBoundOnline,
    originEgressCopies: r.originEgressCopies,
    announcementP99Ms: r.announcementP99Ms,
    reportsCommitted: r.reportsCommitted,
    reportCommitP99Ms: r.reportCommitP99Ms,
    scenario,
    details,
  }
}
