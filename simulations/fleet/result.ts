import { distributionBounds } from '../report/bounds.js'
import { BANDWIDTH_BUCKET_MS, COMPLETION_POINTS_MAX } from './constants.js'
import type { FleetMeter } from './meter.js'
import type { FleetOptions, FleetResult, Percentiles } from './types.js'

/** What a fleet run was, besides what its meter measured: the inputs of `fleetResult`. */
export interface FleetRun {
  readonly options: FleetOptions
  /** Devices 0..devices-1; node `devices` is the origin. */
  readonly devices: number
  readonly honest: number
  readonly malicious: Uint8Array
  /** Per node (the origin last): ms per byte of its uplink and downlink. */
  readonly upMsPerByte: Float64Array
  readonly downMsPerByte: Float64Array
  readonly classOf: readonly string[]
  readonly regionOf: Uint8Array
  /** Each device's rollout bucket; -1 for a device without an agent (malicious). */
  readonly rolloutBuckets: readonly number[]
  /** The run's start and the approval commit, in virtual ms. */
  readonly startAt: number
  readonly approvalAt: number
  /** When every honest device's confirmed report had committed (NaN: never). */
  readonly finishedAt: number
  readonly events: number
  readonly reportsAllCommitted: boolean
  readonly viewChanges: number
  readonly height: number
  readonly violations: readonly string[]
  /** The run ended on its event or time budget instead of finishing. */
  readonly stuck: boolean
  readonly installFailures: number
  readonly rolloutHalt: FleetResult['details']['rolloutHalt']
}

/** The figures of a run (every time relative to the approval commit). */
export function fleetResult(run: FleetRun, m: FleetMeter): FleetResult {
  const o = run.options
  const n = run.devices
  const t = run.approvalAt
  const completion = new Float64Array(n).fill(Number.NaN)
  const times: number[] = []
  const perClass = new Map<string, number[]>()
  const capacities: { uploadBps: number; downloadBps: number }[] = []
  for (let d = 0; d < n; d++) {
    if (run.malicious[d]) continue
    capacities.push({ uploadBps: 1000 / run.upMsPerByte[d]!, downloadBps: 1000 / run.downMsPerByte[d]! })
    const c = m.completeAt[d]!
    const secs = Number.isNaN(c) ? Number.NaN : (c - t) / 1000
    completion[d] = secs
    const list = perClass.get(run.classOf[d]!) ?? []
    perClass.set(run.classOf[d]!, list)
    if (Number.isNaN(secs)) continue
    times.push(secs)
    list.push(secs)
  }
  times.sort((a, b) => a - b)
  let maxOnline = 0
  for (let d = 0; d < n; d++) {
    if (run.malicious[d]) continue
    const c = completion[d]!
    maxOnline = Math.max(maxOnline, Number.isNaN(c) ? Number.POSITIVE_INFINITY : c - m.offlineMs[d]! / 1000)
  }
  const bounds = distributionBounds({
    fileBytes: o.imageBytes,
    seedUploadBps: 1000 / run.upMsPerByte[n]!,
    peers: capacities,
  })
  const announce: number[] = []
  for (let d = 0; d < n; d++) {
    const a = m.announceAt[d]!
    if (!Number.isNaN(a) && !m.churned[d]) announce.push(a - t)
  }
  announce.sort((a, b) => a - b)
  const commitMs = [...m.reportCommitMs].sort((a, b) => a - b)
  const simSeconds = percentiles(times)
  const missing = run.honest - times.length
  // Devices that never finished make the maximum infinite: the run failed its goal.
  const max = missing > 0 ? Number.POSITIVE_INFINITY : simSeconds.max
  let maliciousServed = 0
  let maliciousBanned = 0
  for (let d = 0; d < n; d++) {
    if (!run.malicious[d] || !m.servedHonest[d]) continue
    maliciousServed++
    if (m.bannedByHonest[d]) maliciousBanned++
  }
  const points: [number, number][] = [[0, 0]]
  const step = Math.max(1, Math.floor(times.length / COMPLETION_POINTS_MAX))
  for (let i = 0; i < times.length; i += step) points.push([round3(times[i]!), round6((i + 1) / run.honest)])
  if (times.length > 0) points.push([round3(times.at(-1)!), round6(times.length / run.honest)])
  const offset = Math.floor((t - run.startAt) / BANDWIDTH_BUCKET_MS)
  const bps = (series: number[]) =>
    series
      .slice(Math.max(0, offset))
      .map(
        (bytes, i) =>
          [i * (BANDWIDTH_BUCKET_MS / 1000), (bytes * 1000) / BANDWIDTH_BUCKET_MS] as [number, number],
      )
  let installed = 0
  for (let d = 0; d < n; d++) if (!Number.isNaN(m.installedAt[d]!)) installed++
  const firstFetch: number[] = []
  for (let d = 0; d < n; d++) firstFetch.push(round3((m.fetchAt[d]! - t) / 1000))
  return {
    devices: n,
    imageMiB: round3(o.imageBytes / 2 ** 20),
    seed: o.seed,
    events: run.events,
    simSeconds: { ...simSeconds, max: round3(max) },
    lowerBoundSeconds: round3(bounds.lowerBoundSeconds),
    clientServerSeconds: round3(bounds.clientServerSeconds),
    ratioToBound: round3(max / bounds.lowerBoundSeconds),
    ratioToBoundOnline: round3(maxOnline / bounds.lowerBoundSeconds),
    originEgressCopies: round3(m.originBytes / o.imageBytes),
    announcementP99Ms: round3(percentile(announce, 0.99)),
    reportsCommitted: m.installedCommitted,
    reportCommitP99Ms: round3(percentile(commitMs, 0.99)),
    details: {
      honestDevices: run.honest,
      maliciousDevices: n - run.honest,
      installed,
      downloaded: m.downloaded,
      allReportsCommitted: run.reportsAllCommitted && !run.stuck,
      boundBinding: bounds.binding,
      bansOfMalicious: m.bansOfMalicious,
      bansOfHonest: m.bansOfHonest,
      maliciousBannedByAnyone: maliciousBanned,
      maliciousServedAnyone: maliciousServed,
      churnedDevices: m.churned.reduce((a, b) => a + b, 0),
      viewChanges: run.viewChanges,
      height: run.height,
      violations: run.violations.slice(0, 20),
      finishedSeconds: round3((run.finishedAt - t) / 1000),
      firstFetchSeconds: firstFetch,
      rolloutBucketOf: [...run.rolloutBuckets],
      regionOf: Array.from(run.regionOf.subarray(0, n)),
      installedCommitSeconds: Array.from(m.installedCommitAt, (c) => round3((c - t) / 1000)),
      installFailures: run.installFailures,
      rolloutHalt: run.rolloutHalt,
      stuck: run.stuck,
    },
    completionSeconds: completion,
    offlineSeconds: Float64Array.from(m.offlineMs, (ms) => ms / 1000),
    series: {
      completion: points,
      originBps: bps(m.originBuckets),
      peerBps: bps(m.peerBuckets),
      classes: [...perClass.entries()].map(([name, list]) => {
        const sorted = list.sort((a, b) => a - b)
        const p = percentiles(sorted)
        return { name, devices: list.length, p50: p.p50, p90: p.p90, max: p.max }
      }),
    },
  }
}

/** Nearest-rank percentile of a sorted list; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))
  return sorted[i]!
}

function percentiles(sorted: readonly number[]): Percentiles {
  return {
    p50: round3(percentile(sorted, 0.5)),
    p90: round3(percentile(sorted, 0.9)),
    p99: round3(percentile(sorted, 0.99)),
    max: round3(sorted.at(-1) ?? Number.NaN),
  }
}

function round3(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6
}
