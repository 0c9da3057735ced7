import { describe, expect, it } from 'vitest'
import { runFleet, withVerifyMemo } from '../../simulations/fleet/fleet.js'
import { boundMs } from '../../simulations/scenarios/common.js'
import { fleetOptionsFor, runFleetScenario, summarize } from '../../simulations/scenarios/index.js'

const MiB = 2 ** 20

/** Every honest device downloaded, installed, and had every report committed; no safety violation. */
function expectEveryHonestDeviceDone(r: ReturnType<typeof runFleetScenario>): void {
  const d = r.summary.details
  expect(d.stuck, 'the run finished').toBe(false)
  expect(d.violations, 'no fork, no rejected block, no blamed validator').toEqual([])
  expect(d.downloaded, 'every honest device holds the verified image').toBe(d.honestDevices)
  expect(d.installed, 'every honest device installed').toBe(d.honestDevices)
  expect(r.summary.reportsCommitted, 'every installed report committed').toBe(d.honestDevices)
  expect(d.allReportsCommitted, 'downloading reports committed too').toBe(true)
  for (const [i, s] of r.completionSeconds.entries()) {
    if (!Number.isNaN(s)) expect(s, `device ${i} finished after the approval`).toBeGreaterThan(0)
  }
}

describe('simulations: fleet scenarios (small scale)', () => {
  it('rollout: 100 devices fetch a 64 MiB release from each other, near the lower bound, the origin sending about one copy', () => {
    const r = runFleetScenario({ scenario: 'rollout', devices: 100, imageBytes: 64 * MiB, seed: 1 })
    expectEveryHonestDeviceDone(r)
    expect(r.summary.details.boundBinding).toBe('total-upload')
    // The goal (≤ 1.15) is for 10,000 devices; with 100 the start-up seconds weigh more.
    expect(r.summary.ratioToBound).toBeLessThanOrEqual(1.25)
    expect(r.summary.originEgressCopies).toBeLessThanOrEqual(2)
    expect(r.summary.announcementP99Ms).toBeLessThan(1_000)
  })

  it('rollout: with ten devices per mempool slot, refused reports come back spread out and every one commits', () => {
    // The proportions of 100,000 devices against a 10,000-transaction mempool: every device
    // reports at once, nine in ten are refused, and retries in lockstep would each fit one
    // mempool (that run ended with a quarter of its reports abandoned).
    const devices = 300
    const options = fleetOptionsFor({ scenario: 'rollout', devices, imageBytes: 8 * MiB, seed: 1 })
    const result = withVerifyMemo(() =>
      runFleet({ ...options, consensusLimits: { mempoolTxsMax: devices / 10 } }),
    )
    const summary = summarize('rollout', result)
    expect(summary.details.stuck, 'the run finished').toBe(false)
    expect(summary.reportsCommitted, 'every installed report committed').toBe(devices)
    expect(summary.details.allReportsCommitted, 'downloading reports committed too').toBe(true)
  })

  it('heterogeneous: LAN gateways finish before DSL devices, DSL before cellular', () => {
    const r = runFleetScenario({ scenario: 'heterogeneous', devices: 150, imageBytes: 16 * MiB, seed: 2 })
    expectEveryHonestDeviceDone(r)
    const p50 = Object.fromEntries(r.result.series.classes.map((c) => [c.name, c.p50]))
    expect(Object.keys(p50).sort()).toEqual(['cellular', 'dsl', 'lan'])
    expect(p50.lan!).toBeLessThan(p50.dsl!)
    expect(p50.dsl!).toBeLessThan(p50.cellular!)
  })

  it('churn: 10% of devices leave mid-rollout and rejoin; every one of them still installs', () => {
    const r = runFleetScenario({ scenario: 'churn', devices: 200, imageBytes: 16 * MiB, seed: 3 })
    expectEveryHonestDeviceDone(r)
    expect(r.summary.details.churnedDevices).toBe(20)
  })

  it('malicious: 5% of devices serve corrupted chunks; each one that served is banned, honest devices all install', () => {
    const r = runFleetScenario({ scenario: 'malicious', devices: 200, imageBytes: 8 * MiB, seed: 4 })
    expectEveryHonestDeviceDone(r)
    const d = r.summary.details
    expect(d.maliciousDevices).toBe(10)
    expect(d.maliciousServedAnyone).toBeGreaterThan(0)
    expect(d.maliciousBannedByAnyone).toBe(d.maliciousServedAnyone)
    expect(d.bansOfMalicious).toBeGreaterThanOrEqual(d.maliciousServedAnyone)
    for (const [i, s] of r.completionSeconds.entries()) {
      if (r.result.details.rolloutBucketOf[i] === -1)
        expect(s, `malicious device ${i} never installs`).toBeNaN()
    }
  })

  it('partition: a region is cut off, its reports wait for the heal, and then it finishes and reports', () => {
    const options = { scenario: 'partition', devices: 200, imageBytes: 16 * MiB, seed: 5 }
    const r = runFleetScenario(options)
    expectEveryHonestDeviceDone(r)
    const t = boundMs(fleetOptionsFor(options)) / 1000
    const { regionOf, installedCommitSeconds } = r.result.details
    let cutOff = 0
    for (const [i, region] of regionOf.entries()) {
      if (region !== 3) continue
      cutOff++
      const committed = installedCommitSeconds[i]!
      // No image completes before the cut at 0.1T, and nothing crosses it until 0.5T.
      expect(committed, `device ${i} of the cut region reported after the heal`).toBeGreaterThan(0.5 * t)
    }
    expect(cutOff).toBeGreaterThan(20)
  })

  it('validator crash: the primary crashes mid-rollout, a view change follows, and every report still commits', () => {
    const r = runFleetScenario({ scenario: 'validator-crash', devices: 150, imageBytes: 8 * MiB, seed: 6 })
    expectEveryHonestDeviceDone(r)
    expect(r.summary.details.viewChanges).toBeGreaterThan(0)
  })

  it('waves: devices start fetching only once their wave opens, the waves in order', () => {
    const options = { scenario: 'waves', devices: 200, imageBytes: 8 * MiB, seed: 7 }
    const r = runFleetScenario(options)
    expectEveryHonestDeviceDone(r)
    const waves = fleetOptionsFor(options).waves!
    const { firstFetchSeconds, rolloutBucketOf } = r.result.details
    const firstOf = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY]
    for (const [i, bucket] of rolloutBucketOf.entries()) {
      const wave = waves.findIndex((w) => bucket < w.percent * 100)
      const fetchedAt = firstFetchSeconds[i]!
      // The approval commits a little after the plan's start, so a wave may open "before" it.
      expect(fetchedAt, `device ${i} (bucket ${bucket}) waits for wave ${wave}`).toBeGreaterThanOrEqual(
        waves[wave]!.afterMs / 1000 - 2,
      )
      firstOf[wave] = Math.min(firstOf[wave]!, fetchedAt)
    }
    expect(firstOf[0]!).toBeLessThan(firstOf[1]!)
    expect(firstOf[1]!).toBeLessThan(firstOf[2]!)
  })

  it('waves: the origin sends at most two image copies, though each wave opens new neighbours of it', () => {
    // At 1,000 devices each wave's newcomers wait seconds for the earlier waves' devices; with a
    // 3 s starvation rule the origin took them for isolated and sent 2.90 copies (seed 2).
    const r = runFleetScenario({ scenario: 'waves', devices: 1_000, imageBytes: 64 * MiB, seed: 2 })
    expectEveryHonestDeviceDone(r)
    expect(r.summary.originEgressCopies).toBeLessThanOrEqual(2)
  }, 120_000)

  it('explicit capacities and one link latency replace the scenario’s model (the fidelity API)', () => {
    const r = runFleetScenario({
      devices: 20,
      imageBytes: 4 * MiB,
      chunkBytes: 256 * 1024,
      seed: 8,
      originUploadBitsPerSec: 40e6,
      deviceUploadBitsPerSec: 20e6,
      deviceDownloadBitsPerSec: 80e6,
      linkLatencyMs: 5,
    })
    expectEveryHonestDeviceDone(r)
    // N·F/(u_s + Σu) = 20·4 MiB / (5 + 20·2.5 MB/s)
    expect(r.summary.lowerBoundSeconds).toBeCloseTo((20 * 4 * MiB) / (5e6 + 20 * 2.5e6), 2)
    expect(r.completionSeconds).toHaveLength(20)
    expect(r.result.series.classes.map((c) => c.name)).toEqual(['explicit'])
  })
})

describe('simulations: fleet determinism', () => {
  it('the same seed gives byte-identical results; another seed does not', () => {
    const options = { scenario: 'churn', devices: 80, imageBytes: 4 * MiB, seed: 11 }
    const a = JSON.stringify(runFleetScenario(options).summary)
    const b = JSON.stringify(runFleetScenario(options).summary)
    expect(b).toBe(a)
    const c = JSON.stringify(runFleetScenario({ ...options, seed: 12 }).summary)
    expect(c).not.toBe(a)
  })
})
