import { describe, expect, it } from 'vitest'
import { BANDWIDTH_BUCKET_MS } from '../../simulations/fleet/constants.js'
import { FleetMeter } from '../../simulations/fleet/meter.js'

describe('fleet meter', () => {
  it('counts time offline only while the device still lacked the image', () => {
    const m = new FleetMeter(2, 0)
    m.wentOffline(0, 1_000)
    m.cameBack(0, 4_000)
    m.downloadDone(0, 9_000)
    m.wentOffline(0, 10_000)
    m.cameBack(0, 20_000)
    expect(m.offlineMs[0]).toBe(3_000)
    expect(m.offlineMs[1]).toBe(0)
    expect(m.downloaded).toBe(1)
    expect(m.completeAt[0]).toBe(9_000)
    expect(Number.isNaN(m.completeAt[1]!)).toBe(true)
  })

  it('puts uploads in time buckets from the run start, the origin apart from the peers', () => {
    const start = 50_000
    const m = new FleetMeter(4, start)
    m.uploaded(true, 100, start + 1)
    m.uploaded(false, 30, start + 2)
    m.uploaded(false, 20, start + 2 * BANDWIDTH_BUCKET_MS + 5)
    m.uploaded(true, 7, start + 2 * BANDWIDTH_BUCKET_MS + 6)
    expect(m.originBuckets).toEqual([100, 0, 7])
    expect(m.peerBuckets).toEqual([30, 0, 20])
    expect(m.originBytes).toBe(107)
  })

  it('tells bans of malicious nodes by honest devices from stalls of honest ones', () => {
    const m = new FleetMeter(4, 0)
    m.banned(2, true, true)
    m.banned(3, true, false)
    m.banned(1, false, true)
    expect(m.bansOfMalicious).toBe(2)
    expect(m.bansOfHonest).toBe(1)
    expect([...m.bannedByHonest]).toEqual([0, 0, 1, 0, 0])
  })

  it('records each installed report commit and its latency', () => {
    const m = new FleetMeter(3, 0)
    m.reportCommitted(1, 2_000, 2_750)
    m.reportCommitted(2, 2_100, 3_100)
    expect(m.installedCommitted).toBe(2)
    expect(m.reportCommitMs).toEqual([750, 1_000])
    expect(m.installedCommitAt[2]).toBe(3_100)
    expect(Number.isNaN(m.installedCommitAt[0]!)).toBe(true)
  })
})
