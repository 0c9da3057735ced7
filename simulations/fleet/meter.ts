import { BANDWIDTH_BUCKET_MS } from './constants.js'

/**
 * What a fleet run measures as it goes, apart from the model the driver runs: per-device
 * times, time offline, the origin's and the peers' upload over time, bans, and report
 * commits. The driver records here; `fleetResult` (result.ts) turns it into the figures.
 * Times are virtual milliseconds, NaN until the thing happens.
 */
export class FleetMeter {
  /** When the device's ledger view first showed the release approved. */
  readonly announceAt: Float64Array
  /** When the device's agent first asked for the image. */
  readonly fetchAt: Float64Array
  /** When the device held every chunk. */
  readonly completeAt: Float64Array
  readonly installedAt: Float64Array
  /** When the block holding the device's `installed` report was first committed. */
  readonly installedCommitAt: Float64Array
  /** Devices the churn schedule takes offline once. */
  readonly churned: Uint8Array
  /** Time offline while the device still lacked the image (what `ratioToBoundOnline` removes). */
  readonly offlineMs: Float64Array
  private readonly leftAt: Float64Array
  /** Per node: it served an honest device a bad chunk; an honest device banned it. */
  readonly servedHonest: Uint8Array
  readonly bannedByHonest: Uint8Array
  bansOfMalicious = 0
  bansOfHonest = 0
  downloaded = 0
  installedCommitted = 0
  /** Submission to first commit of each `installed` report. */
  readonly reportCommitMs: number[] = []
  originBytes = 0
  /** Bytes uploaded in each BANDWIDTH_BUCKET_MS since the run's start. */
  readonly originBuckets: number[] = []
  readonly peerBuckets: number[] = []

  /**
   * @param devices devices 0..devices-1; node `devices` is the origin
   * @param t0 the run's start, where the bandwidth buckets begin
   */
  constructor(
    readonly devices: number,
    private readonly t0: number,
  ) {
    const times = () => new Float64Array(devices).fill(Number.NaN)
    this.announceAt = times()
    this.fetchAt = times()
    this.completeAt = times()
    this.installedAt = times()
    this.installedCommitAt = times()
    this.leftAt = times()
    this.churned = new Uint8Array(devices)
    this.offlineMs = new Float64Array(devices)
    this.servedHonest = new Uint8Array(devices + 1)
    this.bannedByHonest = new Uint8Array(devices + 1)
  }

  /** A node's uplink finished sending `bytes` at `now`. */
  uploaded(fromOrigin: boolean, bytes: number, now: number): void {
    const bucket = Math.floor((now - this.t0) / BANDWIDTH_BUCKET_MS)
    const series = fromOrigin ? this.originBuckets : this.peerBuckets
    while (series.length <= bucket) series.push(0)
    series[bucket]! += bytes
    if (fromOrigin) this.originBytes += bytes
  }

  /** A scheduler banned node `node`; `byHonest` when the banning device is honest. */
  banned(node: number, nodeIsMalicious: boolean, byHonest: boolean): void {
    if (!nodeIsMalicious) {
      this.bansOfHonest++
      return
    }
    this.bansOfMalicious++
    if (byHonest) this.bannedByHonest[node] = 1
  }

  downloadDone(d: number, now: number): void {
    this.completeAt[d] = now
    this.downloaded++
  }

  reportCommitted(d: number, submittedAt: number, committedAt: number): void {
    this.installedCommitted++
    this.installedCommitAt[d] = committedAt
    this.reportCommitMs.push(committedAt - submittedAt)
  }

  wentOffline(d: number, now: number): void {
    this.leftAt[d] = now
  }

  cameBack(d: number, now: number): void {
    // Time offline counts against the device only while it still lacked the image.
    if (Number.isNaN(this.completeAt[d]!)) this.offlineMs[d]! += now - this.leftAt[d]!
  }
}
