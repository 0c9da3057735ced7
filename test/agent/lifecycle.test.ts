import { describe, expect, it } from 'vitest'
import type { AgentOutput } from '../../src/agent/index.js'
import { parseCid } from '../../src/codec/cid.js'
import { AGENT_CONFIRM_ATTEMPTS_MAX } from '../../src/constants.js'
import { Driver, World } from './world.js'

/**
 * The update lifecycle (docs/lifecycle.md): downloading -> installing -> pending-reboot ->
 * confirmed | rolled-back | failed. The confirm step decides what the hook's exit 0 meant,
 * the boot id tells a reboot from a restart of the node, and the ledger records the version
 * that runs.
 */

/** Signs every report the driver saw as the device and commits them through the ledger's rules. */
function commitAll(w: World, d: Driver): void {
  for (const o of d.all) {
    if (o.type !== 'report' || committed.has(o)) continue
    committed.add(o)
    w.commit(
      w.txs.report(w.device, parseCid(o.release)!, o.status, o.imageSha256, o.time, o.detail, o.running),
    )
  }
  d.commitReports()
}
const committed = new WeakSet<AgentOutput>()

/** A device on 1.0.0 whose install hook for 1.1.0 just exited 0; every report so far committed. */
function hookExited() {
  const w = new World()
  const id = w.publish({ version: '1.1.0' })
  const d = new Driver(w)
  d.ledger()
  d.downloaded(id, '/images/1.1.0')
  d.verified(id)
  commitAll(w, d)
  expect(d.hookDone(id)).toEqual(['persist', 'confirm 1.1.0'])
  return { w, d, id }
}

const statusesOf = (d: Driver) => d.all.flatMap((o) => (o.type === 'report' ? [o.status] : []))
const oldRuns = { state: 'other', running: '1.0.0', detail: 'rauc: the booted slot holds 1.0.0' } as const

describe('agent: lifecycle', () => {
  it('a version the installer finds running at once (no reboot needed) is confirmed, and the ledger moves to it', () => {
    const { w, d, id } = hookExited()
    expect(d.confirmed(id)).toEqual(['persist', 'report confirmed 1.1.0'])
    commitAll(w, d)
    expect(statusesOf(d)).toEqual(['downloading', 'installing', 'confirmed'])
    expect(w.state.device(w.device.publicKey)?.installed).toMatchObject({ release: id, version: '1.1.0' })
    expect(d.agent.installedVersion).toBe('1.1.0')
    expect(d.agent.phase).toBe('idle')
  })

  it('an image written for the next boot is pending a reboot: reported once, the ledger keeps the running version', () => {
    const { w, d, id } = hookExited()
    expect(d.confirmed(id, oldRuns)).toEqual(['persist', 'report pending-reboot 1.1.0'])
    expect(d.last('report')?.detail).toBe(
      '1.1.0 is written; 1.0.0 runs until a reboot: rauc: the booted slot holds 1.0.0',
    )
    commitAll(w, d)
    expect(d.agent.phase).toBe('pending-reboot')
    expect(d.agent.installedVersion).toBe('1.0.0')
    expect(w.state.device(w.device.publicKey)?.installed).toBeNull()
    // Nothing more until the device reboots: no tick, no command.
    expect(d.agent.nextTickAt()).toBeUndefined()
    expect(d.ledger()).toEqual([])
  })

  it('after the reboot into the new version it is confirmed', () => {
    const { w, d, id } = hookExited()
    d.confirmed(id, oldRuns)
    commitAll(w, d)
    d.reboot('1.1.0')
    expect(d.ledger()).toEqual(['persist', 'confirm 1.1.0'])
    expect(d.confirmed(id)).toEqual(['persist', 'report confirmed 1.1.0'])
    commitAll(w, d)
    expect(statusesOf(d)).toEqual(['downloading', 'installing', 'pending-reboot', 'confirmed'])
    expect(w.state.device(w.device.publicKey)?.installed).toMatchObject({ version: '1.1.0' })
  })

  it('after a reboot into the old version it is rolled back, with the running version, and never tried again', () => {
    const { w, d, id } = hookExited()
    d.confirmed(id, oldRuns)
    commitAll(w, d)
    // The bootloader fell back: the new slot did not come up healthy.
    d.reboot('1.0.0')
    expect(d.ledger()).toEqual(['persist', 'confirm 1.1.0'])
    expect(d.confirmed(id, { state: 'other', running: '1.0.0', detail: 'booted slot A' })).toEqual([
      'persist',
      'report rolled-back 1.1.0',
    ])
    const report = d.last('report')!
    expect(report).toMatchObject({ status: 'rolled-back', running: '1.0.0' })
    expect(report.detail).toBe('rolled back: 1.0.0 runs after a reboot: booted slot A')
    commitAll(w, d)
    expect(d.logs()).toContain('rolled-back')
    expect(d.agent.state.givenUp).toEqual([id])
    expect(d.agent.installedVersion).toBe('1.0.0')
    expect(w.state.device(w.device.publicKey)?.installed).toMatchObject({ version: '1.0.0' })
    // A rollback counts against the release like a failure (the wave threshold).
    expect(w.state.release(id)?.failures).toBe(1)
    expect(d.ledger()).toEqual([])
  })

  it('a node restart without a reboot neither confirms nor rolls back', () => {
    const { w, d, id } = hookExited()
    d.confirmed(id, oldRuns)
    commitAll(w, d)
    d.boot('1.0.0')
    expect(d.ledger()).toEqual([])
    expect(d.agent.phase).toBe('pending-reboot')
    expect(statusesOf(d)).toEqual(['downloading', 'installing', 'pending-reboot'])
  })

  it('an unknown answer is asked again with backoff, then the install is failed', () => {
    const { d, id } = hookExited()
    const unknown = { state: 'unknown', detail: 'rauc: the service is busy' } as const
    for (let attempt = 1; attempt < AGENT_CONFIRM_ATTEMPTS_MAX; attempt++) {
      expect(d.confirmed(id, unknown), `confirmation ${attempt}`).toEqual(['persist'])
      expect(d.logs()).toContain('confirm-retry')
      expect(d.tick(), `after the backoff of confirmation ${attempt}`).toEqual(['persist', 'confirm 1.1.0'])
    }
    expect(d.confirmed(id, unknown)).toEqual(['persist', 'report failed 1.1.0'])
    expect(d.last('report')?.detail).toBe(
      `gave up after ${AGENT_CONFIRM_ATTEMPTS_MAX} confirmations: could not confirm the install: rauc: the service is busy`,
    )
  })

  it('a confirmation survives a restart: the node asks again after the backoff', () => {
    const { d, id } = hookExited()
    d.confirmed(id, { state: 'unknown', detail: 'busy' })
    const retryAt = d.agent.state.retryAt!
    d.boot('1.0.0')
    expect(d.ledger()).toEqual([])
    expect(d.agent.nextTickAt()).toBe(retryAt)
    expect(d.tick()).toEqual(['persist', 'confirm 1.1.0'])
  })

  it('a hook that timed out with the outcome unknown (RAUC) goes to the confirm step, not to failed', () => {
    const w = new World()
    const id = w.publish({ version: '1.1.0' })
    const d = new Driver(w)
    d.ledger()
    d.downloaded(id, '/images/1.1.0')
    d.verified(id)
    d.agent.handleInstallDone(
      id,
      { ok: false, code: 'unknown', detail: 'unknown: rauc is still installing' },
      d.now,
    )
    expect(d.take()).toEqual(['persist', 'confirm 1.1.0'])
    expect(d.logs()).toContain('install-unknown')
    // `rauc status` at the next boot: the slot was activated, and it booted.
    d.confirmed(id, oldRuns)
    d.reboot('1.1.0')
    d.ledger()
    expect(d.confirmed(id)).toEqual(['persist', 'report confirmed 1.1.0'])
    expect(statusesOf(d)).not.toContain('failed')
  })
})
