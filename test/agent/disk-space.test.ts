import { describe, expect, it } from 'vitest'
import { diskMargin, diskSpaceNeeded, formatBytes, insufficientSpace } from '../../src/agent/index.js'
import { AGENT_DOWNLOAD_ATTEMPTS_MAX, DISK_MARGIN_BYTES_MIN } from '../../src/constants.js'
import { Driver, World } from './world.js'

const MiB = 1024 * 1024
const GiB = 1024 * MiB

describe('disk space: the rule', () => {
  it('disk space: the rule: the margin is 64 MiB for small images and 5 % of large ones', () => {
    expect(diskMargin(4096)).toBe(DISK_MARGIN_BYTES_MIN)
    expect(diskMargin(GiB)).toBe(DISK_MARGIN_BYTES_MIN)
    expect(diskMargin(4 * GiB)).toBe(Math.ceil(4 * GiB * 0.05))
  })

  it('disk space: the rule: a download needs what it still has to write plus the margin, nothing when it is all there', () => {
    expect(diskSpaceNeeded(GiB, 0)).toBe(GiB + 64 * MiB)
    expect(diskSpaceNeeded(GiB, 512 * MiB)).toBe(512 * MiB + 64 * MiB)
    expect(diskSpaceNeeded(GiB, GiB)).toBe(0)
    // A file system may allocate a little more than the image (blocks): still nothing to write.
    expect(diskSpaceNeeded(GiB, GiB + 4096)).toBe(0)
  })

  it('disk space: the rule: without room the detail says what is needed and what there is, in MiB', () => {
    expect(insufficientSpace(GiB, { freeBytes: 2 * GiB, heldBytes: 0 })).toBeUndefined()
    expect(insufficientSpace(GiB, { freeBytes: 600 * MiB, heldBytes: 512 * MiB })).toBeUndefined()
    expect(insufficientSpace(GiB, { freeBytes: 300 * MiB, heldBytes: 0 })).toBe(
      'insufficient space (need 1088.0 MiB, have 300.0 MiB)',
    )
    expect(formatBytes(20 * GiB)).toBe('20.0 GiB')
  })
})

describe('disk space: the agent', () => {
  function downloading() {
    const w = new World()
    const id = w.publish({ version: '1.1.0' })
    const d = new Driver(w)
    d.ledger()
    d.commitReports()
    return { w, d, id }
  }

  it('disk space: the agent: with room the download starts and nothing else happens', () => {
    const { d, id } = downloading()
    expect(d.agent.handleDiskSpace(id, { freeBytes: GiB, heldBytes: 0 }, d.now)).toBe(true)
    expect(d.take()).toEqual([])
    expect(d.agent.phase).toBe('downloading')
  })

  it('disk space: the agent: without room it does not download, reports failed once, and retries with backoff until there is room', () => {
    const { d, id } = downloading()
    expect(d.agent.handleDiskSpace(id, { freeBytes: MiB, heldBytes: 0 }, d.now)).toBe(false)
    expect(d.take()).toEqual(['persist', 'report failed 1.1.0'])
    expect(d.last('report')?.detail).toBe('insufficient space (need 64.0 MiB, have 1.0 MiB)')
    expect(d.agent.state.lastError).toBe('insufficient space (need 64.0 MiB, have 1.0 MiB)')
    d.commitReports()
    // The usual backoff: the fetch is asked for again a minute later.
    const at = d.agent.nextTickAt()!
    expect(at - d.now).toBe(60_000)
    expect(d.tick(at)).toEqual(['persist', 'fetch 1.1.0'])
    // Still no room: another failed attempt, but no second report.
    expect(d.agent.handleDiskSpace(id, { freeBytes: 2 * MiB, heldBytes: 0 }, d.now)).toBe(false)
    expect(d.take()).toEqual(['persist'])
    expect(d.tick(d.agent.nextTickAt()!)).toEqual(['persist', 'fetch 1.1.0'])
    // The device freed space: the download goes ahead and the release installs.
    expect(d.agent.handleDiskSpace(id, { freeBytes: GiB, heldBytes: 0 }, d.now)).toBe(true)
    expect(d.downloaded(id)).toEqual(['persist', 'verify 1.1.0'])
    d.verified(id)
    expect(d.installed(id)).toEqual(['persist', 'confirm 1.1.0', 'persist', 'report confirmed 1.1.0'])
  })

  it('disk space: the agent: a device that never has room gives the release up with one final failed report', () => {
    const { d, id } = downloading()
    for (let attempt = 1; attempt < AGENT_DOWNLOAD_ATTEMPTS_MAX; attempt++) {
      expect(d.agent.handleDiskSpace(id, { freeBytes: MiB, heldBytes: 0 }, d.now), `attempt ${attempt}`).toBe(
        false,
      )
      d.take()
      d.commitReports()
      expect(d.tick(d.agent.nextTickAt()!), `attempt ${attempt}`).toEqual(['persist', 'fetch 1.1.0'])
    }
    expect(d.agent.handleDiskSpace(id, { freeBytes: MiB, heldBytes: 0 }, d.now)).toBe(false)
    expect(d.take()).toEqual(['persist', 'cancel-fetch 1.1.0 (given-up)', 'report failed 1.1.0'])
    expect(d.last('report')?.detail).toBe(
      'gave up after 5 download attempts: insufficient space (need 64.0 MiB, have 1.0 MiB)',
    )
    const failed = d.all.filter((o) => o.type === 'report' && o.status === 'failed')
    expect(failed.map((o) => (o.type === 'report' ? o.detail : ''))).toEqual([
      'insufficient space (need 64.0 MiB, have 1.0 MiB)',
      'gave up after 5 download attempts: insufficient space (need 64.0 MiB, have 1.0 MiB)',
    ])
  })

  it('disk space: the agent: a measurement for a download it is not waiting for is ignored', () => {
    const { d, id } = downloading()
    d.agent.handleDiskSpace(id, { freeBytes: MiB, heldBytes: 0 }, d.now)
    d.take()
    // Backing off: no fetch is out, so nothing may start.
    expect(d.agent.handleDiskSpace(id, { freeBytes: GiB, heldBytes: 0 }, d.now)).toBe(false)
    expect(d.take()).toEqual([])
  })
})
