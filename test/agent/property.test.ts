import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type AgentOutput,
  type ConfirmOutcome,
  DeviceAgent,
  decodeAgentState,
  type InstallOutcome,
  isWindowOpen,
  type MaintenanceWindow,
  parseMaintenanceWindow,
} from '../../src/agent/index.js'
import { parseCid } from '../../src/codec/cid.js'
import { REPORT_DETAIL_LENGTH_MAX } from '../../src/constants.js'
import { apply } from '../../src/ledger/rules.js'
import { compareVersions } from '../../src/ledger/semver.js'
import type { ReleaseRecord } from '../../src/ledger/state.js'
import { DAY, HOUR, T0, World } from './world.js'

/**
 * Random lives of one device: releases published, approved and revoked at random (real signed
 * transactions through the ledger's rules), ticks, download, verification and hook results,
 * confirm answers, report commits and rejections, and restarts from the last persisted state
 * (of the node alone, or reboots into the new slot or the old one, some with a corrupt file).
 * After every step: no `install` of a version not newer than the running one or of a release
 * an independent oracle finds ineligible, no `confirmed` report of a version the device was
 * not found running, every persisted state decodes, every report passes the ledger's rules.
 */

type Step =
  | {
      kind: 'publish'
      product: 'gw' | 'cam'
      channel: 'stable' | 'beta'
      hardware: Array<'rev-a' | 'rev-b' | 'rev-c'>
      bump: 'major' | 'minor' | 'patch' | 'pre'
      minFrom: string | null
      approve: boolean
      percent: number
      startAfterMs: number
    }
  | { kind: 'approve'; which: number }
  | { kind: 'revoke'; which: number }
  | { kind: 'tick'; advanceMs: number; toNext: boolean }
  | { kind: 'download'; ok: boolean }
  | { kind: 'verify'; good: boolean }
  | { kind: 'install'; outcome: 'ok' | 'exit' | 'timeout' | 'signal' | 'spawn-failed' | 'unknown' }
  | { kind: 'confirm'; answer: 'running' | 'other' | 'unknown' }
  | { kind: 'report'; which: number; result: 'commit' | 'transient' | 'permanent' }
  | { kind: 'restart'; into: 'same' | 'reboot-new' | 'reboot-old' | 'corrupt' }
  | { kind: 'stale'; which: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('publish' as const),
      // Weighted towards releases this device could take, so installs happen often.
      product: fc.constantFrom('gw' as const, 'gw' as const, 'gw' as const, 'cam' as const),
      channel: fc.constantFrom('stable' as const, 'stable' as const, 'stable' as const, 'beta' as const),
      hardware: fc.constantFrom<Array<'rev-a' | 'rev-b' | 'rev-c'>>(
        ['rev-b'],
        ['rev-a', 'rev-b'],
        ['rev-b', 'rev-c'],
        ['rev-a'],
        ['rev-c'],
      ),
      bump: fc.constantFrom('major' as const, 'minor' as const, 'patch' as const, 'pre' as const),
      minFrom: fc.constantFrom(null, '0.9.0', '1.0.0', '1.1.0', '1.5.0'),
      approve: fc.constantFrom(true, true, true, false),
      percent: fc.integer({ min: 1, max: 100 }),
      startAfterMs: fc.integer({ min: 0, max: 2 * DAY }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('approve' as const), which: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('revoke' as const), which: fc.nat() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('tick' as const),
      advanceMs: fc.integer({ min: 0, max: DAY }),
      toNext: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('download' as const),
      ok: fc.constantFrom(true, true, true, false),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('verify' as const),
      good: fc.constantFrom(true, true, true, false),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('install' as const),
      outcome: fc.constantFrom(
        'ok' as const,
        'ok' as const,
        'exit' as const,
        'timeout' as const,
        'signal' as const,
        'spawn-failed' as const,
        'unknown' as const,
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('confirm' as const),
      answer: fc.constantFrom('running' as const, 'running' as const, 'other' as const, 'unknown' as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('report' as const),
      which: fc.nat(),
      result: fc.constantFrom(
        'commit' as const,
        'commit' as const,
        'transient' as const,
        'permanent' as const,
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('restart' as const),
      into: fc.constantFrom(
        'same' as const,
        'reboot-new' as const,
        'reboot-old' as const,
        'corrupt' as const,
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stale' as const), which: fc.nat() }) },
)

const scenario = fc.record({
  running: fc.constantFrom('0.9.0', '1.0.0', '1.0.0', '1.1.0', '1.4.2'),
  window: fc.option(
    fc.record({ start: fc.integer({ min: 0, max: 23 }), hours: fc.integer({ min: 1, max: 12 }) }),
    // Half the devices have a window.
    { nil: undefined, freq: 2 },
  ),
  startOffsetMs: fc.integer({ min: 0, max: DAY }),
  steps: fc.array(step, { minLength: 10, maxLength: 80, size: 'max' }),
})

const DEVICE = { product: 'gw', hardware: 'rev-b', channel: 'stable' }

/** Bucket and wave, computed independently of src/agent/rollout.ts. */
function waveOpenOracle(record: ReleaseRecord, publicKey: Uint8Array, now: number): boolean {
  const bucket = createHash('sha256').update(publicKey).digest().readUInt32BE(0) % 10_000
  return record.rollout.waves.some((w) => bucket < w.percent * 100 && now >= record.rollout.start + w.afterMs)
}

function eligibleOracle(
  record: ReleaseRecord,
  running: string,
  publicKey: Uint8Array,
  window: MaintenanceWindow | null,
  now: number,
): string | undefined {
  if (record.approvedAt === null) return 'not approved'
  if (record.revoked !== null) return 'revoked'
  if (record.product !== DEVICE.product) return 'other product'
  if (record.channel !== DEVICE.channel) return 'other channel'
  if (!record.hardware.includes(DEVICE.hardware)) return 'other hardware'
  if (compareVersions(record.version, running) <= 0) return `not newer than running ${running}`
  if (record.minFrom !== null && compareVersions(running, record.minFrom) < 0) return 'below min-from'
  if (!waveOpenOracle(record, publicKey, now)) return 'wave closed'
  if (!isWindowOpen(window, now)) return 'window closed'
  return undefined
}

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never

function run(s: Scenario): void {
  const world = new World('agent-property')
  let window: MaintenanceWindow | null = null
  if (s.window) {
    const end = (s.window.start + s.window.hours) % 24
    const parsed = parseMaintenanceWindow({ start: `${s.window.start}:00`, end: `${end}:00` })
    if (!parsed.ok) throw new Error(parsed.error.message)
    window = parsed.value
  }
  const config = world.config({ window })
  let now = T0 + s.startOffsetMs
  let running: string = s.running
  let persisted: Uint8Array | undefined
  let bootId = 0
  const boot = (version: string, state: Uint8Array | undefined) => {
    const r = DeviceAgent.boot(config, { runningVersion: version, now, state, bootId: `boot-${bootId}` })
    if (!r.ok) throw new Error(r.error.message)
    return r.value
  }
  let agent = boot(running, undefined)
  const latest = new Map<string, { M: number; m: number; p: number; pre: number | null }>()
  const releases: string[] = []
  let fetching: string | undefined
  let verifying: string | undefined
  let installing: { release: string; version: string } | undefined
  let confirming: { release: string; version: string } | undefined
  /** The release whose install the device holds written but not running (an A/B slot). */
  let written: { release: string; version: string } | undefined
  /** Releases a confirm step found running: the only ones a `confirmed` report may name. */
  const foundRunning = new Set<string>()

  const drain = (context: string) => {
    for (const o of agent.takeOutputs()) check(o, context)
    const next = agent.nextTickAt()
    if (next !== undefined) expect(next, `${context}: the next tick lies ahead`).toBeGreaterThan(now)
  }
  const check = (o: AgentOutput, context: string) => {
    switch (o.type) {
      case 'persist': {
        const decoded = decodeAgentState(o.bytes)
        expect(decoded.ok, `${context}: the persisted state decodes`).toBe(true)
        persisted = o.bytes
        return
      }
      case 'fetch':
        fetching = o.release
        return
      case 'cancel-fetch':
        if (fetching === o.release) fetching = undefined
        if (verifying === o.release) verifying = undefined
        return
      case 'verify':
        verifying = o.release
        return
      case 'install': {
        expect(
          compareVersions(o.version, running),
          `${context}: install ${o.version} over running ${running}`,
        ).toBeGreaterThan(0)
        const record = world.state.release(o.release)
        expect(record, `${context}: the installed release exists`).toBeDefined()
        const why = eligibleOracle(record!, running, world.device.publicKey, window, now)
        expect(why, `${context}: install ${o.version} is eligible`).toBeUndefined()
        installing = { release: o.release, version: o.version }
        return
      }
      case 'confirm':
        confirming = { release: o.release, version: o.version }
        return
      case 'report':
        if (o.status === 'confirmed')
          expect(foundRunning.has(o.release), `${context}: confirmed only what was found running`).toBe(true)
        expect((o.detail ?? '').length, `${context}: the detail fits`).toBeLessThanOrEqual(
          REPORT_DETAIL_LENGTH_MAX,
        )
        expect(world.state.release(o.release), `${context}: the report names a release`).toBeDefined()
        return
      case 'log':
        return
    }
  }
  const ledgerChanged = (context: string) => {
    agent.handleLedger(world.view(), now)
    drain(context)
  }

  ledgerChanged('boot')
  for (const [i, st] of s.steps.entries()) {
    const context = `step ${i} (${st.kind})`
    switch (st.kind) {
      case 'publish': {
        const key = `${st.product}/${st.channel}`
        const v = latest.get(key) ?? { M: 1, m: 0, p: 0, pre: null }
        if (st.bump === 'major') Object.assign(v, { M: v.M + 1, m: 0, p: 0, pre: null })
        else if (st.bump === 'minor') Object.assign(v, { m: v.m + 1, p: 0, pre: null })
        else if (st.bump === 'patch') Object.assign(v, v.pre === null ? { p: v.p + 1 } : { pre: null })
        else Object.assign(v, v.pre === null ? { p: v.p + 1, pre: 1 } : { pre: v.pre + 1 })
        latest.set(key, v)
        const version = `${v.M}.${v.m}.${v.p}${v.pre === null ? '' : `-rc.${v.pre}`}`
        const minFrom =
          st.minFrom !== null && compareVersions(st.minFrom, version) < 0 ? st.minFrom : undefined
        const id = world.publish({
          version,
          product: st.product,
          channel: st.channel,
          hardware: st.hardware,
          approve: st.approve,
          rollout: {
            start: T0 + st.startAfterMs,
            waves: [
              { percent: st.percent, afterMs: 0 },
              { percent: 100, afterMs: DAY },
            ],
          },
          ...(minFrom ? { minFrom } : {}),
        })
        releases.push(id)
        ledgerChanged(context)
        break
      }
      case 'approve': {
        const pending = releases.filter((id) => {
          const r = world.state.release(id)!
          return r.approvedAt === null && r.revoked === null
        })
        if (pending.length === 0) break
        world.approve(pending[st.which % pending.length]!)
        ledgerChanged(context)
        break
      }
      case 'revoke': {
        const live = releases.filter((id) => world.state.release(id)!.revoked === null)
        if (live.length === 0) break
        world.revoke(live[st.which % live.length]!)
        ledgerChanged(context)
        break
      }
      case 'tick': {
        const next = agent.nextTickAt()
        now = st.toNext && next !== undefined ? Math.max(now, next) : now + st.advanceMs
        agent.handleTick(now)
        drain(context)
        break
      }
      case 'download': {
        if (!fetching) break
        const id = fetching
        fetching = undefined
        if (st.ok) agent.handleDownloaded(id, now, `/images/${id}`)
        else agent.handleDownloadFailed(id, 'no peers', now)
        drain(context)
        break
      }
      case 'verify': {
        if (!verifying) break
        const id = verifying
        verifying = undefined
        agent.handleVerified(id, st.good ? world.state.release(id)!.imageSha256 : new Uint8Array(32), now)
        drain(context)
        break
      }
      case 'install': {
        if (!installing) break
        const { release, version } = installing
        installing = undefined
        const outcome: InstallOutcome =
          st.outcome === 'ok'
            ? { ok: true }
            : { ok: false, code: st.outcome, exitCode: 1, signal: 'SIGKILL', detail: 'x'.repeat(5000) }
        if (st.outcome === 'ok' || st.outcome === 'unknown') written = { release, version }
        agent.handleInstallDone(release, outcome, now)
        drain(context)
        break
      }
      case 'confirm': {
        if (!confirming) break
        const { release, version } = confirming
        confirming = undefined
        // What the device runs decides, not the step: `running` means the new slot booted.
        const answer: ConfirmOutcome =
          st.answer === 'unknown'
            ? { state: 'unknown', detail: 'rauc: busy' }
            : st.answer === 'running' || running === version
              ? { state: 'running' }
              : { state: 'other', running, detail: `${running} runs` }
        if (answer.state === 'running') {
          running = compareVersions(version, running) > 0 ? version : running
          foundRunning.add(release)
          written = undefined
        }
        agent.handleConfirmDone(release, answer, now)
        drain(context)
        break
      }
      case 'report': {
        const pending = agent.state.reports
        if (pending.length === 0) break
        const r = pending[st.which % pending.length]!
        if (st.result === 'commit') {
          // Through the real rules: the report the agent asked for must be acceptable.
          const tx = world.txs.report(
            world.device,
            parseCid(r.release)!,
            r.status,
            r.imageSha256,
            r.time,
            r.detail,
            r.running,
          )
          const applied = apply(world.state, tx, { height: 10_000 + i, time: now })
          expect(applied.ok, `${context}: the report passes the rules`).toBe(true)
          if (applied.ok) world.state = applied.value
          agent.handleReportCommitted(r.id, now)
        } else {
          agent.handleReportRejected(
            r.id,
            st.result === 'transient' ? 'report.unregistered-device' : 'report.wrong-product',
            now,
          )
        }
        drain(context)
        break
      }
      case 'restart': {
        if (st.into === 'reboot-new' || st.into === 'reboot-old') bootId++
        const slot = written ?? installing
        if (st.into === 'reboot-new' && slot && compareVersions(slot.version, running) > 0)
          running = slot.version
        if (st.into !== 'same') written = undefined
        fetching = undefined
        verifying = undefined
        installing = undefined
        confirming = undefined
        agent = boot(running, st.into === 'corrupt' ? Uint8Array.from([0xde, 0xad]) : persisted)
        drain(context)
        ledgerChanged(`${context}, first ledger view`)
        break
      }
      case 'stale': {
        const id = releases.length > 0 ? releases[st.which % releases.length]! : 'bafynothing'
        if (id !== fetching) agent.handleDownloaded(id, now)
        if (id !== verifying) agent.handleVerified(id, new Uint8Array(32), now)
        if (id !== installing?.release) agent.handleInstallDone(id, { ok: true }, now)
        if (id !== confirming?.release) agent.handleConfirmDone(id, { state: 'running' }, now)
        agent.handleReportCommitted(1_000_000 + st.which, now)
        drain(context)
        break
      }
    }
    expect(
      compareVersions(agent.installedVersion, running),
      `${context}: installed ≥ running`,
    ).toBeGreaterThanOrEqual(0)
  }
}

describe('agent: property', () => {
  it('agent: property: random lives never install a non-eligible or not-newer release, and every state decodes (fast-check)', () => {
    fc.assert(fc.property(scenario, run), { seed: 20260101, numRuns: 300 })
  })

  it('agent: property: a device that installs reaches the newest eligible version (fast-check, liveness)', () => {
    // All downloads, verifications, hooks and reports succeed: the agent must end idle on the
    // newest approved, unrevoked, matching release of its product and channel.
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('patch', 'minor', 'skip'), { minLength: 1, maxLength: 8 }),
        (plan) => {
          const world = new World('agent-liveness')
          const r = DeviceAgent.boot(world.config(), { runningVersion: '1.0.0', now: T0 })
          if (!r.ok) throw new Error(r.error.message)
          const agent = r.value
          let minor = 0
          let patch = 0
          let newest = '1.0.0'
          for (const kind of plan) {
            if (kind === 'minor') minor++
            else patch++
            const version = `1.${minor + 1}.${patch}`
            world.publish({ version, approve: kind !== 'skip' })
            if (kind !== 'skip') newest = version
          }
          let now = T0 + HOUR
          agent.handleLedger(world.view(), now)
          for (let round = 0; round < 50 && agent.phase !== 'idle'; round++) {
            for (const o of agent.takeOutputs()) {
              now += 1000
              if (o.type === 'fetch') agent.handleDownloaded(o.release, now)
              else if (o.type === 'verify')
                agent.handleVerified(o.release, world.state.release(o.release)!.imageSha256, now)
              else if (o.type === 'install') agent.handleInstallDone(o.release, { ok: true }, now)
              else if (o.type === 'confirm') agent.handleConfirmDone(o.release, { state: 'running' }, now)
              else if (o.type === 'report') agent.handleReportCommitted(o.id, now)
            }
          }
          expect(agent.phase).toBe('idle')
          expect(agent.installedVersion).toBe(newest)
        },
      ),
      { seed: 9, numRuns: 40 },
    )
  })
})
