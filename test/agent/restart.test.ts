import { describe, expect, it } from 'vitest'
import { parseMaintenanceWindow } from '../../src/agent/index.js'
import { encodeCbor } from '../../src/codec/cbor.js'
import { AGENT_INSTALL_ATTEMPTS_MAX } from '../../src/constants.js'
import { Driver, HOUR, T0, World } from './world.js'

const WINDOW = (() => {
  const r = parseMaintenanceWindow({ start: '02:00', end: '04:30' })
  if (!r.ok) throw new Error(r.error.message)
  return r.value
})()

/** A world with release 1.1.0 and a driver whose downloading report is committed. */
function started(options: ConstructorParameters<typeof Driver>[1] = {}) {
  const w = new World()
  const id = w.publish({ version: '1.1.0' })
  const d = new Driver(w, options)
  d.ledger()
  d.commitReports()
  return { w, d, id }
}

/** Drives to `installing` (the hook was started); the reports so far are committed. */
function installing() {
  const { w, d, id } = started()
  d.downloaded(id, '/img/1.1.0')
  d.verified(id)
  expect(d.agent.phase).toBe('installing')
  d.commitReports()
  return { w, d, id }
}

describe('agent: restart', () => {
  it('agent: restart: in idle, it stays idle and picks up a release published meanwhile', () => {
    const w = new World()
    const d = new Driver(w)
    d.ledger()
    d.boot('1.0.0')
    expect(d.agent.stateError).toBeUndefined()
    expect(d.agent.phase).toBe('idle')
    w.publish({ version: '1.1.0' })
    expect(d.ledger()).toEqual(['persist', 'fetch 1.1.0', 'report downloading 1.1.0'])
  })

  it('agent: restart: in downloading, it asks for the fetch again without a second downloading report', () => {
    const { d, id } = started()
    d.boot('1.0.0')
    expect(d.ledger()).toEqual(['fetch 1.1.0'])
    expect(d.downloaded(id)).toEqual(['persist', 'verify 1.1.0'])
  })

  it('agent: restart: a report not yet committed is resubmitted unchanged, without counting an attempt', () => {
    const w = new World()
    w.publish({ version: '1.1.0' })
    const d = new Driver(w)
    d.ledger()
    const before = d.last('report')!
    d.boot('1.0.0')
    expect(d.ledger()).toEqual(['report downloading 1.1.0', 'fetch 1.1.0'])
    expect(d.last('report')).toEqual(before)
    expect(d.agent.state.reports[0]?.attempts).toBe(1)
  })

  it('agent: restart: in downloading after a failure, it waits for the retry time', () => {
    const { d, id } = started()
    d.downloadFailed(id)
    const retryAt = d.agent.state.retryAt!
    d.boot('1.0.0')
    expect(d.ledger()).toEqual([])
    expect(d.agent.nextTickAt()).toBe(retryAt)
    expect(d.tick()).toEqual(['persist', 'fetch 1.1.0'])
  })

  it('agent: restart: in verifying, it asks for the verification again', () => {
    const { d, id } = started()
    d.downloaded(id, '/img/1.1.0')
    d.boot('1.0.0')
    expect(d.ledger()).toEqual(['verify 1.1.0'])
    expect(d.last('verify')?.imagePath).toBe('/img/1.1.0')
    expect(d.verified(id)).toEqual(['persist', 'install 1.1.0', 'report installing 1.1.0'])
  })

  it('agent: restart: in waiting-for-window, it verifies the image again, then waits for the window', () => {
    const { d, id } = started({ window: WINDOW, now: T0 + HOUR })
    d.downloaded(id)
    d.verified(id)
    expect(d.agent.phase).toBe('waiting-for-window')
    d.boot('1.0.0')
    expect(d.ledger()).toEqual(['persist', 'verify 1.1.0'])
    expect(d.verified(id)).toEqual(['persist'])
    expect(d.agent.nextTickAt()).toBe(T0 + 2 * HOUR)
    expect(d.tick()).toEqual(['persist', 'install 1.1.0', 'report installing 1.1.0'])
  })

  it('agent: restart: in installing (the hook rebooted the device), it asks the installer and confirms', () => {
    const { d, id } = installing()
    d.reboot('1.1.0')
    expect(d.agent.phase).toBe('confirming')
    expect(d.ledger()).toEqual(['persist', 'confirm 1.1.0 (hook cut short)'])
    expect(d.confirmed(id)).toEqual(['persist', 'report confirmed 1.1.0'])
    expect(d.agent.installedVersion).toBe('1.1.0')
    expect(d.commitReports()).toEqual(['persist'])
    expect(d.agent.phase).toBe('idle')
  })

  it('agent: restart: in installing, with the old version running, it verifies and installs again', () => {
    const { d, id } = installing()
    d.boot('1.0.0')
    expect(d.ledger()).toEqual(['persist', 'confirm 1.1.0 (hook cut short)'])
    expect(d.confirmed(id, { state: 'other', running: '1.0.0', detail: '' })).toEqual([
      'persist',
      'verify 1.1.0',
    ])
    expect(d.logs()).toContain('install-interrupted')
    // One `installing` report an install, however often a restart begins it again.
    expect(d.verified(id)).toEqual(['persist', 'install 1.1.0'])
    expect(d.agent.state.installAttempts).toBe(2)
  })

  it(`agent: restart: in installing, after ${AGENT_INSTALL_ATTEMPTS_MAX} interrupted installs it reports failed`, () => {
    const { w, d, id } = installing()
    const oldRuns = { state: 'other', running: '1.0.0', detail: '' } as const
    for (let attempt = 2; attempt <= AGENT_INSTALL_ATTEMPTS_MAX; attempt++) {
      d.boot('1.0.0')
      d.ledger()
      d.confirmed(id, oldRuns)
      expect(d.verified(id), `install ${attempt}`).toEqual(['persist', 'install 1.1.0'])
    }
    d.boot('1.0.0')
    d.ledger()
    expect(d.confirmed(id, oldRuns)).toEqual(['persist', 'report failed 1.1.0'])
    expect(d.agent.phase).toBe('reporting')
    expect(d.last('report')?.detail).toBe(
      `install interrupted ${AGENT_INSTALL_ATTEMPTS_MAX} times (restarts while the hook ran); 1.0.0 runs`,
    )
    d.commitReports()
    expect(d.agent.state.givenUp).toEqual([id])
    expect(w.view().release(id)).toBeDefined()
    expect(d.ledger()).toEqual([])
  })

  it('agent: restart: in installing, with a newer version running, it drops the target', () => {
    const { d } = installing()
    d.boot('1.2.0')
    expect(d.agent.phase).toBe('idle')
    expect(d.ledger()).toEqual(['persist', 'cancel-fetch 1.1.0 (not-eligible)'])
    expect(d.agent.installedVersion).toBe('1.2.0')
  })

  it('agent: restart: in reporting, it resubmits the outcome report and goes idle once it commits', () => {
    const { d, id } = installing()
    d.installed(id)
    const final = d.last('report')!
    d.boot('1.0.0')
    expect(d.agent.phase).toBe('reporting')
    expect(d.ledger()).toEqual(['report confirmed 1.1.0'])
    expect(d.last('report')).toEqual(final)
    expect(d.commitReports()).toEqual(['persist'])
    expect(d.agent.phase).toBe('idle')
  })

  it('agent: restart: pending a reboot, a restart of the node alone neither confirms nor installs again', () => {
    const { w, d, id } = installing()
    d.hookDone(id)
    d.confirmed(id, { state: 'other', running: '1.0.0', detail: '' })
    d.commitReports()
    expect(d.agent.phase).toBe('pending-reboot')
    // The same boot: an A/B system runs the old slot until the next reboot.
    d.boot('1.0.0')
    expect(d.agent.installedVersion).toBe('1.0.0')
    expect(d.ledger()).toEqual([])
    w.publish({ version: '1.2.0', minFrom: '1.0.0' })
    expect(d.ledger()).toEqual([])
    expect(d.agent.phase).toBe('pending-reboot')
    // The reboot: confirmed, then the newer release.
    d.reboot('1.1.0')
    expect(d.ledger()).toEqual(['persist', 'confirm 1.1.0'])
    d.confirmed(id)
    expect(d.commitReports()).toContain('fetch 1.2.0')
  })

  it('agent: restart: a corrupt state file is a typed error and the agent starts idle on the running version', () => {
    const { d } = started()
    d.boot('1.0.3', Uint8Array.from([0xa1, 0x61, 0x76, 0xff, 0x00]))
    expect(d.agent.stateError?.code).toBe('corrupt')
    expect(d.agent.phase).toBe('idle')
    expect(d.agent.installedVersion).toBe('1.0.3')
    expect(d.logs()).toContain('state-unreadable')
    // Safe start: it decides afresh, and the first step persists a good state.
    expect(d.ledger()).toEqual(['persist', 'fetch 1.1.0', 'report downloading 1.1.0'])
  })

  it('agent: restart: a state file of an unknown format version is a typed error and the agent starts idle', () => {
    const { d } = started()
    d.boot('1.0.0', encodeCbor({ v: 99, phase: 'installing' }))
    expect(d.agent.stateError).toEqual({
      code: 'unknown-version',
      message: 'format version 99; this agent reads version 1',
    })
    expect(d.agent.phase).toBe('idle')
  })

  it('agent: restart: a running version that is not semver is refused at boot', () => {
    const w = new World()
    expect(() => new Driver(w, { running: 'buildroot-2024.02' })).toThrow(
      'the running version "buildroot-2024.02" is not a semantic version (like 1.4.2)',
    )
  })
})
