import { describe, expect, it } from 'vitest'
import { type AgentOutput, parseMaintenanceWindow, rolloutBucket } from '../../src/agent/index.js'
import { parseCid } from '../../src/codec/cid.js'
import {
  AGENT_DOWNLOAD_ATTEMPTS_MAX,
  AGENT_REPORT_ATTEMPTS_MAX,
  REPORT_DETAIL_LENGTH_MAX,
} from '../../src/constants.js'
import { Prng } from '../../src/prng.js'
import { DAY, Driver, HOUR, imageHash, type ReleaseOptions, T0, World } from './world.js'

/** Signs a report output as the device and commits it through the ledger's rules. */
function commitReport(world: World, report: Extract<AgentOutput, { type: 'report' }>): void {
  world.commit(
    world.txs.report(
      world.device,
      parseCid(report.release)!,
      report.status,
      report.imageSha256,
      report.time,
      report.detail,
    ),
  )
}

function windowOf(input: Record<string, unknown>) {
  const r = parseMaintenanceWindow(input)
  if (!r.ok) throw new Error(r.error.message)
  return r.value
}

/** Drives a fresh agent to the install of a single release 1.1.0; returns the driver and id. */
function atInstall(options: ConstructorParameters<typeof Driver>[1] = {}) {
  const w = new World()
  const id = w.publish({ version: '1.1.0' })
  const d = new Driver(w, options)
  d.ledger()
  // Commit the downloading report, so the only wake-ups left are the ones a test is about.
  d.commitReports()
  d.downloaded(id, '/var/lib/fwmesh/images/1.1.0')
  d.verified(id)
  return { w, d, id }
}

describe('agent: happy path', () => {
  it('agent: happy path: an approved release is fetched, verified, installed and reported', () => {
    const w = new World()
    const id = w.publish({ version: '1.1.0' })
    const d = new Driver(w)
    expect(d.ledger()).toEqual(['persist', 'fetch 1.1.0', 'report downloading 1.1.0'])
    expect(d.agent.phase).toBe('downloading')
    expect(d.commitReports()).toEqual(['persist'])
    expect(d.downloaded(id, '/data/images/x.img')).toEqual(['persist', 'verify 1.1.0'])
    expect(d.last('verify')?.imagePath).toBe('/data/images/x.img')
    expect(d.verified(id)).toEqual(['persist', 'install 1.1.0', 'report installing 1.1.0'])
    expect(d.last('install')).toMatchObject({
      release: id,
      version: '1.1.0',
      imagePath: '/data/images/x.img',
    })
    expect(d.hookDone(id)).toEqual(['persist', 'confirm 1.1.0'])
    expect(d.agent.phase).toBe('confirming')
    expect(d.agent.installedVersion).toBe('1.0.0')
    expect(d.confirmed(id)).toEqual(['persist', 'report confirmed 1.1.0'])
    expect(d.agent.phase).toBe('reporting')
    expect(d.agent.installedVersion).toBe('1.1.0')
    // The installing and the confirmed report commit: the agent is idle after the second.
    expect(d.commitReports()).toEqual(['persist', 'persist'])
    expect(d.agent.phase).toBe('idle')
    expect(d.agent.nextTickAt()).toBeUndefined()
  })

  it('agent: happy path: the reports it asks for pass the ledger rules and record the install', () => {
    const { w, d, id } = atInstall()
    d.installed(id)
    const reports = d.all.filter((o): o is Extract<AgentOutput, { type: 'report' }> => o.type === 'report')
    expect(reports.map((r) => r.status)).toEqual(['downloading', 'installing', 'confirmed'])
    for (const r of reports) commitReport(w, r)
    expect(w.state.device(w.device.publicKey)?.installed).toMatchObject({ release: id, version: '1.1.0' })
  })

  it('agent: happy path: of several eligible releases the highest version is installed', () => {
    const w = new World()
    w.publish({ version: '1.1.0' })
    w.publish({ version: '1.2.0' })
    w.publish({ version: '1.3.0', approve: false })
    const d = new Driver(w)
    expect(d.ledger()).toContain('fetch 1.2.0')
  })

  it('agent: happy path: nothing eligible means no command and no tick', () => {
    const d = new Driver(new World())
    expect(d.ledger()).toEqual(['persist'])
    expect(d.agent.nextTickAt()).toBeUndefined()
  })
})

describe('agent: eligibility', () => {
  const cases: Array<{ rule: string; release: ReleaseOptions; running?: string; revoke?: boolean }> = [
    { rule: 'an unapproved release is not installed', release: { version: '1.1.0', approve: false } },
    { rule: 'a revoked release is not installed', release: { version: '1.1.0' }, revoke: true },
    {
      rule: 'a release of another product is not installed',
      release: { version: '1.1.0', product: 'camera' },
    },
    { rule: 'a release on another channel is not installed', release: { version: '1.1.0', channel: 'beta' } },
    {
      rule: 'a release for other hardware is not installed',
      release: { version: '1.1.0', hardware: ['rev-c'] },
    },
    { rule: 'an older version is refused (no downgrade)', release: { version: '1.1.0' }, running: '1.2.0' },
    { rule: 'the running version is not installed again', release: { version: '1.1.0' }, running: '1.1.0' },
    {
      rule: 'a pre-release of the running version is refused (semver order)',
      release: { version: '1.1.0-rc.1' },
      running: '1.1.0',
    },
    {
      rule: 'a release whose min-from is above the running version is not installed',
      release: { version: '1.2.0', minFrom: '1.0.5' },
      running: '1.0.4',
    },
  ]
  for (const c of cases) {
    it(`agent: eligibility: ${c.rule}`, () => {
      const w = new World()
      const id = w.publish(c.release)
      if (c.revoke) w.revoke(id)
      const d = new Driver(w, { running: c.running ?? '1.0.0' })
      const out = d.ledger()
      expect(out, c.rule).toEqual(['persist'])
      expect(d.agent.phase, c.rule).toBe('idle')
    })
  }

  it('agent: eligibility: a release at exactly its min-from version is installed', () => {
    const w = new World()
    w.publish({ version: '1.2.0', minFrom: '1.0.5' })
    expect(new Driver(w, { running: '1.0.5' }).ledger()).toContain('fetch 1.2.0')
  })

  it('agent: eligibility: a closed wave holds the download back until it opens', () => {
    const w = new World()
    const bucket = rolloutBucket(w.device.publicKey)
    // The seeded device key lands in bucket 1937: a first wave of 19 % leaves it out.
    expect(bucket).toBeGreaterThanOrEqual(100)
    const first = Math.floor(bucket / 100)
    w.publish({
      version: '1.1.0',
      rollout: {
        start: T0,
        waves: [
          { percent: first, afterMs: 0 },
          { percent: 100, afterMs: DAY },
        ],
      },
    })
    const d = new Driver(w)
    expect(d.ledger()).toEqual(['persist'])
    expect(d.agent.nextTickAt()).toBe(T0 + DAY)
    expect(d.tick(T0 + DAY - 1)).toEqual([])
    expect(d.tick(T0 + DAY)).toEqual(['persist', 'fetch 1.1.0', 'report downloading 1.1.0'])
  })

  it('agent: eligibility: a wave that never reaches the bucket never installs and asks for no tick', () => {
    const w = new World()
    const bucket = rolloutBucket(w.device.publicKey)
    w.publish({
      version: '1.1.0',
      rollout: { start: T0, waves: [{ percent: Math.floor(bucket / 100), afterMs: 0 }] },
    })
    const d = new Driver(w, { now: T0 + 365 * DAY })
    expect(d.ledger()).toEqual(['persist'])
    expect(d.agent.nextTickAt()).toBeUndefined()
  })

  it('agent: eligibility: a closed window holds the install back (not the download) until it opens', () => {
    // Boot at 01:00 UTC on Thursday; the window opens at 02:00.
    const window = windowOf({ start: '02:00', end: '04:30' })
    const w = new World()
    const id = w.publish({ version: '1.1.0' })
    const d = new Driver(w, { window, now: T0 + HOUR })
    expect(d.ledger()).toContain('fetch 1.1.0')
    d.commitReports()
    d.downloaded(id)
    expect(d.verified(id)).toEqual(['persist'])
    expect(d.agent.phase).toBe('waiting-for-window')
    expect(d.agent.nextTickAt()).toBe(T0 + 2 * HOUR)
    expect(d.tick(T0 + 2 * HOUR - 1)).toEqual([])
    expect(d.tick(T0 + 2 * HOUR)).toEqual(['persist', 'install 1.1.0', 'report installing 1.1.0'])
  })

  it('agent: eligibility: a verified image past the window waits for the next day', () => {
    const window = windowOf({ start: '02:00', end: '04:30' })
    const { d } = atInstall({ window, now: T0 + 4 * HOUR + 30 * 60_000 })
    expect(d.agent.phase).toBe('waiting-for-window')
    expect(d.agent.nextTickAt()).toBe(T0 + DAY + 2 * HOUR)
  })
})

describe('agent: choice', () => {
  it('agent: choice: a newer release during the download replaces the older one', () => {
    const w = new World()
    const old = w.publish({ version: '1.1.0' })
    const d = new Driver(w)
    d.ledger()
    w.publish({ version: '1.2.0' })
    expect(d.ledger()).toEqual([
      'persist',
      'cancel-fetch 1.1.0 (superseded)',
      'fetch 1.2.0',
      'report downloading 1.2.0',
    ])
    // The finished download of the replaced release changes nothing.
    expect(d.downloaded(old)).toEqual([])
    expect(d.logs()).toContain('stale-input')
  })

  it('agent: choice: a newer release while waiting for the window replaces the verified image', () => {
    const window = windowOf({ start: '02:00', end: '04:30' })
    const { w, d } = atInstall({ window, now: T0 + HOUR })
    w.publish({ version: '1.2.0' })
    expect(d.ledger()).toEqual([
      'persist',
      'cancel-fetch 1.1.0 (superseded)',
      'fetch 1.2.0',
      'report downloading 1.2.0',
    ])
  })

  it('agent: choice: a newer release during the install waits until the install is reported', () => {
    const { w, d, id } = atInstall()
    w.publish({ version: '1.2.0' })
    expect(d.ledger()).toEqual([])
    d.installed(id)
    const next = d.commitReports().filter((o) => o !== 'persist')
    expect(next).toEqual(['fetch 1.2.0', 'report downloading 1.2.0'])
  })

  it('agent: choice: a release revoked during its download is cancelled and nothing is reported', () => {
    const w = new World()
    const id = w.publish({ version: '1.1.0' })
    const d = new Driver(w)
    d.ledger()
    w.revoke(id)
    expect(d.ledger()).toEqual(['persist', 'cancel-fetch 1.1.0 (revoked)'])
    expect(d.agent.phase).toBe('idle')
    expect(d.downloaded(id)).toEqual([])
    const statuses = d.all.flatMap((o) => (o.type === 'report' ? [o.status] : []))
    expect(statuses).toEqual(['downloading'])
  })

  it('agent: choice: a revoked target falls back to the best remaining release', () => {
    const w = new World()
    w.publish({ version: '1.1.0' })
    const newer = w.publish({ version: '1.2.0' })
    const d = new Driver(w)
    expect(d.ledger()).toContain('fetch 1.2.0')
    w.revoke(newer)
    expect(d.ledger()).toEqual([
      'persist',
      'cancel-fetch 1.2.0 (revoked)',
      'fetch 1.1.0',
      'report downloading 1.1.0',
    ])
  })

  it('agent: choice: a release revoked while waiting for the window is never installed', () => {
    const window = windowOf({ start: '02:00', end: '04:30' })
    const { w, d, id } = atInstall({ window, now: T0 + HOUR })
    w.revoke(id)
    expect(d.ledger()).toEqual(['persist', 'cancel-fetch 1.1.0 (revoked)'])
    expect(d.agent.nextTickAt()).toBeUndefined()
    expect(d.tick(T0 + 2 * HOUR)).toEqual([])
  })
})

describe('agent: failures', () => {
  it('agent: failures: a failed download is retried with doubling backoff, then given up with a failed report', () => {
    const w = new World()
    const id = w.publish({ version: '1.1.0' })
    const d = new Driver(w)
    d.ledger()
    d.commitReports()
    const delays: number[] = []
    for (let attempt = 1; attempt < AGENT_DOWNLOAD_ATTEMPTS_MAX; attempt++) {
      expect(d.downloadFailed(id), `attempt ${attempt}`).toEqual(['persist'])
      const at = d.agent.nextTickAt()!
      delays.push(at - d.now)
      expect(d.tick(at - 1), `attempt ${attempt}: not before the backoff`).toEqual([])
      expect(d.tick(at), `attempt ${attempt}: after the backoff`).toEqual(['persist', 'fetch 1.1.0'])
    }
    expect(delays).toEqual([60_000, 120_000, 240_000, 480_000])
    expect(d.downloadFailed(id)).toEqual(['persist', 'cancel-fetch 1.1.0 (given-up)', 'report failed 1.1.0'])
    expect(d.last('report')?.detail).toBe(
      'gave up after 5 download attempts: download failed: no peer holds chunk 3',
    )
    d.commitReports()
    // Given up: not fetched again, even on a new ledger view.
    expect(d.ledger()).toEqual([])
    expect(d.agent.phase).toBe('idle')
  })

  it('agent: failures: with a PRNG each backoff is drawn from half to all of its delay', () => {
    const w = new World()
    const id = w.publish({ version: '1.1.0' })
    const d = new Driver(w, { boot: { prng: Prng.fromSeed('jitter') } })
    d.ledger()
    d.commitReports()
    for (let attempt = 1; attempt < AGENT_DOWNLOAD_ATTEMPTS_MAX; attempt++) {
      d.downloadFailed(id)
      const delay = d.agent.nextTickAt()! - d.now
      const full = 60_000 * 2 ** (attempt - 1)
      expect(delay, `attempt ${attempt}`).toBeGreaterThanOrEqual(full / 2)
      expect(delay, `attempt ${attempt}`).toBeLessThanOrEqual(full)
      d.tick()
    }
  })

  it('agent: failures: an image whose hash is not the release hash is discarded and fetched again', () => {
    const w = new World()
    const id = w.publish({ version: '1.1.0' })
    const d = new Driver(w)
    d.ledger()
    d.commitReports()
    d.downloaded(id)
    expect(d.verified(id, imageHash('something else'))).toEqual(['persist', 'cancel-fetch 1.1.0 (bad-image)'])
    expect(d.agent.state.lastError).toBe('the image SHA-256 is not the release image hash')
    expect(d.tick()).toEqual(['persist', 'fetch 1.1.0'])
  })

  it('agent: failures: an unreadable image counts as a failed download', () => {
    const w = new World()
    const id = w.publish({ version: '1.1.0' })
    const d = new Driver(w)
    d.ledger()
    d.downloaded(id)
    d.agent.handleVerifyFailed(id, 'EIO: i/o error', d.now)
    expect(d.take()).toEqual(['persist', 'cancel-fetch 1.1.0 (bad-image)'])
    expect(d.agent.state.downloadAttempts).toBe(1)
  })

  const hookFailures = [
    {
      name: 'a hook exiting non-zero',
      outcome: { ok: false, code: 'exit', exitCode: 2, detail: 'rauc: signature verification failed' },
      detail: 'install hook exited with code 2: rauc: signature verification failed',
    },
    {
      name: 'a hook that timed out',
      outcome: { ok: false, code: 'timeout', signal: 'SIGTERM', detail: 'writing slot rootfs.1' },
      detail: 'install hook timed out and was killed: writing slot rootfs.1',
    },
    {
      name: 'a hook killed by a signal',
      outcome: { ok: false, code: 'signal', signal: 'SIGSEGV', detail: '' },
      detail: 'install hook killed by SIGSEGV',
    },
    {
      name: 'a hook that could not start',
      outcome: { ok: false, code: 'spawn-failed', detail: 'spawn /usr/bin/rauc ENOENT' },
      detail: 'install hook could not start: spawn /usr/bin/rauc ENOENT',
    },
  ] as const
  for (const c of hookFailures) {
    it(`agent: failures: ${c.name} gives a failed report and the release is not tried again`, () => {
      const { w, d, id } = atInstall()
      d.agent.handleInstallDone(id, c.outcome, d.now)
      expect(d.take(), c.name).toEqual(['persist', 'report failed 1.1.0'])
      expect(d.last('report')?.detail, c.name).toBe(c.detail)
      expect(d.agent.installedVersion, c.name).toBe('1.0.0')
      d.commitReports()
      expect(d.ledger(), c.name).toEqual([])
      // A newer release is still welcome.
      w.publish({ version: '1.2.0' })
      expect(d.ledger(), c.name).toContain('fetch 1.2.0')
    })
  }

  it('agent: failures: a huge hook message is cut to the ledger limit and the report still commits', () => {
    const { w, d, id } = atInstall()
    const noise = `${'progress 42%\r'.repeat(2000)}\nfatal: no space left on device 😱`
    d.agent.handleInstallDone(id, { ok: false, code: 'exit', exitCode: 1, detail: noise }, d.now)
    d.take()
    const report = d.last('report')!
    expect(report.detail!.length).toBeLessThanOrEqual(REPORT_DETAIL_LENGTH_MAX)
    expect(report.detail!.startsWith('install hook exited with code 1: …')).toBe(true)
    expect(report.detail!.endsWith('fatal: no space left on device 😱')).toBe(true)
    for (const o of d.all) if (o.type === 'report') commitReport(w, o)
  })
})

describe('agent: registration', () => {
  it('agent: registration: a device configured as other hardware than the ledger registered fetches nothing, and says why', () => {
    const w = new World()
    w.publish({ version: '1.1.0', hardware: ['rev-b', 'rev-c'] })
    // The World registers the device as a gw on rev-b boards.
    const d = new Driver(w, { config: { hardware: 'rev-c' } })
    expect(d.ledger().filter((o) => o.startsWith('fetch'))).toEqual([])
    expect(d.agent.phase).toBe('idle')
    expect(d.logs()).toContain('registration-mismatch')
  })

  it('agent: registration: a device not registered yet goes by its configuration', () => {
    const w = new World()
    w.publish({ version: '1.1.0' })
    const d = new Driver(w, { config: { publicKey: w.chain.key('unregistered').publicKey } })
    expect(d.ledger()).toContain('fetch 1.1.0')
    expect(d.logs()).not.toContain('registration-mismatch')
  })
})

describe('agent: reports', () => {
  it('agent: reports: a report not seen committed is resubmitted unchanged, then abandoned with a log', () => {
    const w = new World()
    w.publish({ version: '1.1.0' })
    const d = new Driver(w)
    d.ledger()
    const first = d.last('report')!
    for (let attempt = 2; attempt <= AGENT_REPORT_ATTEMPTS_MAX; attempt++) {
      expect(d.tick(), `submission ${attempt}`).toEqual(['persist', 'report downloading 1.1.0'])
      expect(d.last('report'), `submission ${attempt}`).toEqual(first)
    }
    expect(d.tick()).toEqual(['persist'])
    expect(d.logs()).toContain('report-abandoned')
    expect(d.agent.state.reports).toEqual([])
    expect(d.agent.nextTickAt()).toBeUndefined()
  })

  it('agent: reports: the wait before a resubmission doubles', () => {
    const w = new World()
    w.publish({ version: '1.1.0' })
    const d = new Driver(w)
    d.ledger()
    const waits: number[] = []
    for (let i = 0; i < 3; i++) {
      waits.push(d.agent.nextTickAt()! - d.now)
      d.tick()
    }
    expect(waits).toEqual([60_000, 120_000, 240_000])
  })

  it('agent: reports: with a PRNG each wait is drawn from half to all of it, so devices that reported together resubmit apart', () => {
    const w = new World()
    w.publish({ version: '1.1.0' })
    const waitsOf = (seed: string): number[] => {
      const d = new Driver(w, { boot: { prng: Prng.fromSeed(seed) } })
      d.ledger()
      const waits: number[] = []
      for (let i = 0; i < 3; i++) {
        waits.push(d.agent.nextTickAt()! - d.now)
        d.tick()
      }
      return waits
    }
    const a = waitsOf('device a')
    const b = waitsOf('device b')
    for (const [i, full] of [60_000, 120_000, 240_000].entries()) {
      for (const waits of [a, b]) {
        expect(waits[i], `wait ${i + 1}`).toBeGreaterThanOrEqual(full / 2)
        expect(waits[i], `wait ${i + 1}`).toBeLessThanOrEqual(full)
      }
      expect(a[i], `wait ${i + 1} differs between the devices`).not.toBe(b[i])
    }
  })

  it('agent: reports: a duplicate rejection means the report had committed', () => {
    const { d, id } = atInstall()
    d.commitReports()
    d.installed(id)
    const final = d.last('report')!
    d.agent.handleReportRejected(final.id, 'tx.duplicate', d.now)
    d.take()
    expect(d.agent.state.reports).toEqual([])
    expect(d.agent.phase).toBe('idle')
  })

  it('agent: reports: a rejection that cannot change is not retried', () => {
    const { d, id } = atInstall()
    d.installed(id)
    const final = d.last('report')!
    d.agent.handleReportRejected(final.id, 'report.hash-mismatch', d.now, 'the hash is not the image hash')
    d.take()
    expect(d.logs()).toContain('report-abandoned')
    expect(d.agent.phase).toBe('idle')
  })

  it('agent: reports: a rejection that may pass later is retried after a delay', () => {
    const w = new World()
    w.publish({ version: '1.1.0' })
    const d = new Driver(w)
    d.ledger()
    const report = d.last('report')!
    d.now += 5_000
    d.agent.handleReportRejected(report.id, 'report.unregistered-device', d.now)
    expect(d.take()).toEqual(['persist'])
    expect(d.agent.nextTickAt()).toBe(d.now + 60_000)
    expect(d.tick()).toEqual(['persist', 'report downloading 1.1.0'])
  })

  it('agent: reports: the outcome report holds the agent in reporting until it commits', () => {
    const { w, d, id } = atInstall()
    d.installed(id)
    w.publish({ version: '1.2.0' })
    expect(d.ledger()).toEqual([])
    expect(d.agent.phase).toBe('reporting')
  })

  it('agent: reports: a time going backwards is taken as the last time seen', () => {
    const w = new World()
    w.publish({ version: '1.1.0' })
    const d = new Driver(w)
    d.ledger()
    const first = d.last('report')!
    d.agent.handleTick(d.now - HOUR)
    d.take()
    expect(d.agent.nextTickAt()).toBe(first.time + 60_000)
  })
})
