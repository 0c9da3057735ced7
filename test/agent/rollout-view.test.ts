import { describe, expect, it } from 'vitest'
import type { ProgressEntry } from '../../src/agent/progress.js'
import { ROLLOUT_BUCKETS, rolloutBucket } from '../../src/agent/rollout.js'
import { type RolloutReport, rolloutView } from '../../src/agent/rollout-view.js'
import { toHex } from '../../src/codec/bytes.js'
import { didFromPublicKey } from '../../src/crypto/did.js'
import { keyPairFromSeed } from '../../src/crypto/ed25519.js'
import type { DeviceRecord, ReleaseRecord } from '../../src/ledger/state.js'

const T0 = 1_700_000_000_000
const HOUR = 3_600_000
const ID = 'bafyreirelease'

function release(over: Partial<ReleaseRecord> = {}): ReleaseRecord {
  return {
    id: ID,
    product: 'gw',
    channel: 'stable',
    version: '2.0.0',
    hardware: ['rev-a'],
    imageSize: 1,
    imageSha256: new Uint8Array(32),
    manifest: 'bafymanifest',
    chunkSize: 1,
    rollout: { start: T0, waves: [{ percent: 100, afterMs: 0 }] },
    minFrom: null,
    publisher: new Uint8Array(32),
    publishedAt: 1,
    publishedTime: T0,
    approvals: 2,
    approvedAt: 2,
    revoked: null,
    ...over,
  }
}

/** A registered device from a seed byte; `installed` is the version it reported last. */
function device(seed: number, over: Partial<DeviceRecord> & { version?: string } = {}): DeviceRecord {
  const { version, ...rest } = over
  return {
    publicKey: keyPairFromSeed(new Uint8Array(32).fill(seed)).publicKey,
    product: 'gw',
    hardware: 'rev-a',
    groups: [],
    registeredAt: 1,
    installed: version ? { release: 'bafyolder', version, height: 1 } : null,
    ...rest,
  }
}

const hex = (d: DeviceRecord) => toHex(d.publicKey)

function view(
  r: ReleaseRecord,
  devices: DeviceRecord[],
  options: {
    reports?: RolloutReport[]
    progress?: Record<string, Omit<ProgressEntry, 'release' | 'device'>>
    now?: number
  } = {},
) {
  return rolloutView({
    release: r,
    devices,
    reports: options.reports ?? [],
    progress: (d) => {
      const p = options.progress?.[d]
      return p ? { release: r.id, device: d, ...p } : undefined
    },
    now: options.now ?? T0 + HOUR,
  })
}

describe('agent: the rollout view of a release', () => {
  it('names each ineligible device with its reason, and counts only the eligible ones', () => {
    const devices = [
      device(1),
      device(2, { hardware: 'rev-z' }),
      device(3, { product: 'camera' }),
      device(4, { version: '2.0.0' }),
      device(5, { version: '1.0.0' }),
    ]
    const v = view(release({ minFrom: '1.5.0' }), devices)
    const byDid = Object.fromEntries(v.devices.map((d) => [d.did, d]))
    const of = (d: DeviceRecord) => byDid[didFromPublicKey(d.publicKey)]!
    expect(of(devices[0]!)).toMatchObject({ eligible: true, state: 'pending', source: 'none' })
    expect(of(devices[1]!)).toMatchObject({ eligible: false, state: 'ineligible', reason: 'other-hardware' })
    expect(of(devices[2]!)).toMatchObject({ eligible: false, state: 'ineligible', reason: 'other-product' })
    expect(of(devices[3]!)).toMatchObject({ eligible: false, state: 'ineligible', reason: 'not-newer' })
    expect(of(devices[4]!)).toMatchObject({ eligible: false, state: 'ineligible', reason: 'below-min-from' })
    expect(v).toMatchObject({ eligible: 1, ineligible: 4, done: false })
    expect(v.counts).toEqual({
      pending: 1,
      downloading: 0,
      verifying: 0,
      installing: 0,
      'pending-reboot': 0,
      confirmed: 0,
      'rolled-back': 0,
      failed: 0,
    })
  })

  it('a revoked release makes every device not yet on it ineligible (revoked); one that installed it stays installed', () => {
    const on = device(1, { installed: { release: ID, version: '2.0.0', height: 5 } })
    const v = view(release({ revoked: { height: 6, time: T0, by: new Uint8Array(32), reason: 'bad' } }), [
      on,
      device(2),
    ])
    expect(v.devices.map((d) => [d.state, d.reason])).toEqual([
      ['confirmed', undefined],
      ['ineligible', 'revoked'],
    ])
    expect(v.revoked).toBe(true)
    expect(v.installable).toBe(false)
  })

  it('an unapproved release leaves its devices pending, waiting for approval', () => {
    const v = view(release({ approvedAt: null }), [device(1)])
    expect(v.devices[0]).toMatchObject({ eligible: true, state: 'pending', reason: 'not-approved' })
  })

  it('a wave not open yet leaves its devices pending with the time it opens; a plan that never reaches a device makes it ineligible', () => {
    const d = device(1)
    const bucket = rolloutBucket(d.publicKey)
    const percent = Math.floor(bucket / (ROLLOUT_BUCKETS / 100)) + 1
    const later = release({ rollout: { start: T0, waves: [{ percent, afterMs: 2 * HOUR }] } })
    expect(view(later, [d]).devices[0]).toMatchObject({
      state: 'pending',
      reason: 'wave-closed',
      opensAt: T0 + 2 * HOUR,
      wave: 0,
    })
    if (percent > 1) {
      const short = release({ rollout: { start: T0, waves: [{ percent: percent - 1, afterMs: 0 }] } })
      expect(view(short, [d]).devices[0]).toMatchObject({
        state: 'ineligible',
        reason: 'wave-closed',
        wave: null,
      })
    }
  })

  it('shows what devices gossiped: downloading with percent, verifying, installing, pending a reboot; confirmed by gossip alone is still installing', () => {
    const ds = [device(1), device(2), device(3), device(4), device(5), device(6), device(7)]
    const v = view(release(), ds, {
      progress: {
        [hex(ds[0]!)]: { state: 'downloading', percent: 42, time: T0 + 1 },
        [hex(ds[1]!)]: { state: 'verifying', time: T0 + 2 },
        [hex(ds[2]!)]: { state: 'installing', time: T0 + 3 },
        [hex(ds[3]!)]: { state: 'confirmed', time: T0 + 4 },
        [hex(ds[4]!)]: { state: 'failed', reason: 'hook exited 3', time: T0 + 5 },
        [hex(ds[5]!)]: { state: 'pending-reboot', time: T0 + 6 },
        [hex(ds[6]!)]: { state: 'rolled-back', reason: 'rolled back: 1.9.0 runs', time: T0 + 7 },
      },
    })
    expect(v.devices.map((d) => [d.state, d.percent ?? d.detail ?? null, d.source])).toEqual([
      ['downloading', 42, 'gossip'],
      ['verifying', null, 'gossip'],
      ['installing', null, 'gossip'],
      ['installing', 'confirmed; its report is not committed yet', 'gossip'],
      ['failed', 'hook exited 3', 'gossip'],
      ['pending-reboot', null, 'gossip'],
      ['rolled-back', 'rolled back: 1.9.0 runs', 'gossip'],
    ])
    expect(v.counts).toMatchObject({
      downloading: 1,
      verifying: 1,
      installing: 2,
      failed: 1,
      'pending-reboot': 1,
      'rolled-back': 1,
    })
  })

  it('a committed installing or pending-reboot report shows until the device gossips something newer', () => {
    const ds = [device(1), device(2), device(3)]
    const v = view(release(), ds, {
      reports: [
        { device: hex(ds[0]!), status: 'installing' },
        { device: hex(ds[1]!), status: 'installing' },
        {
          device: hex(ds[2]!),
          status: 'pending-reboot',
          detail: '2.0.0 is written; 1.9.0 runs until a reboot',
        },
      ],
      progress: {
        // Older than the committed report: the ledger's word stands.
        [hex(ds[0]!)]: { state: 'downloading', percent: 100, time: T0 },
        [hex(ds[1]!)]: { state: 'pending-reboot', time: T0 },
      },
    })
    expect(v.devices.map((d) => [d.state, d.source])).toEqual([
      ['installing', 'ledger'],
      ['pending-reboot', 'gossip'],
      ['pending-reboot', 'ledger'],
    ])
    expect(v.devices[2]!.detail).toBe('2.0.0 is written; 1.9.0 runs until a reboot')
    expect(v.done).toBe(false)
  })

  it('the ledger wins over gossip: a committed report decides, the last one of each device counts', () => {
    const ds = [device(1), device(2), device(3)]
    const v = view(release(), ds, {
      reports: [
        { device: hex(ds[0]!), status: 'downloading' },
        { device: hex(ds[0]!), status: 'confirmed' },
        { device: hex(ds[1]!), status: 'failed', detail: 'install hook failed: exit 3' },
        { device: hex(ds[2]!), status: 'rolled-back', detail: 'watchdog' },
      ],
      progress: {
        [hex(ds[0]!)]: { state: 'downloading', percent: 10, time: T0 },
        [hex(ds[1]!)]: { state: 'installing', time: T0 },
      },
    })
    expect(v.devices.map((d) => [d.state, d.detail ?? null, d.source])).toEqual([
      ['confirmed', null, 'ledger'],
      ['failed', 'install hook failed: exit 3', 'ledger'],
      ['rolled-back', 'watchdog', 'ledger'],
    ])
    expect(v.done).toBe(true)
  })

  it('groups devices per wave, with each wave counting its own eligible devices', () => {
    const ds = Array.from({ length: 40 }, (_, i) => device(i + 1))
    const r = release({
      rollout: {
        start: T0,
        waves: [
          { percent: 50, afterMs: 0 },
          { percent: 100, afterMs: 2 * HOUR },
        ],
      },
    })
    const first = ds.filter((d) => rolloutBucket(d.publicKey) < 5_000)
    const v = view(r, [...ds, device(99, { hardware: 'rev-z' })], {
      reports: first.slice(0, 2).map((d) => ({ device: hex(d), status: 'confirmed' as const })),
    })
    expect(v.waves).toHaveLength(2)
    expect(v.waves[0]).toMatchObject({
      index: 0,
      percent: 50,
      opensAt: T0,
      open: true,
      devices: first.length,
    })
    expect(v.waves[0]!.counts).toMatchObject({ confirmed: 2, pending: first.length - 2 })
    expect(v.waves[1]).toMatchObject({ open: false, opensAt: T0 + 2 * HOUR, devices: 40 - first.length })
    expect(v.waves[1]!.counts.pending).toBe(40 - first.length)
    expect(v.waves[0]!.devices + v.waves[1]!.devices).toBe(v.eligible)
    expect(v.eligible).toBe(40)
    expect(v.ineligible).toBe(1)
  })

  it('is done when every eligible device confirmed, rolled back or failed, and not with no eligible device', () => {
    expect(view(release(), []).done).toBe(false)
    expect(view(release(), [device(1, { hardware: 'rev-z' })]).done).toBe(false)
  })
})

describe('agent: rollout view under rollout control', () => {
  const stop = { height: 5, time: T0, by: new Uint8Array(32).fill(1), reason: 'support desk closed' }

  it('shows a paused release, its devices pending on the pause, and still counts a committed failure', () => {
    const a = device(1)
    const b = device(2)
    const v = view(release({ paused: stop }), [a, b], {
      reports: [{ device: hex(b), status: 'failed', detail: 'hook exited 1' }],
      now: T0 + HOUR,
    })
    expect(v.paused).toMatchObject({ reason: 'support desk closed', by: didFromPublicKey(stop.by) })
    expect(v.installable).toBe(true)
    expect(v.devices.map((d) => [d.state, d.reason ?? d.detail])).toEqual([
      ['pending', 'paused'],
      ['failed', 'hook exited 1'],
    ])
  })

  it('shows a halt: later waves stay shut and their devices wait on it', () => {
    const rollout = {
      start: T0,
      waves: [
        { percent: 1, afterMs: 0, maxFailurePercent: 5 },
        { percent: 100, afterMs: 1000 },
      ],
    }
    const halted = { height: 7, time: T0, wave: 0, percent: 1, failures: 1, targeted: 1 }
    const late = [1, 2, 3, 4, 5, 6].map((s) => device(s)).filter((d) => rolloutBucket(d.publicKey) >= 100)
    const v = view(release({ rollout, halted, failures: 1 }), late, { now: T0 + HOUR })
    expect(v.halted).toEqual(halted)
    expect(v.failures).toBe(1)
    expect(v.waves.map((w) => [w.open, w.halted, w.maxFailurePercent])).toEqual([
      [true, false, 5],
      [false, true, undefined],
    ])
    expect(late.length).toBeGreaterThan(0)
    for (const d of v.devices) expect([d.state, d.reason]).toEqual(['pending', 'halted'])
  })

  it('shows an aborted release as not installable, its devices ineligible', () => {
    const v = view(release({ aborted: stop }), [device(1)], { now: T0 + HOUR })
    expect(v.installable).toBe(false)
    expect(v.aborted).toMatchObject({ reason: 'support desk closed' })
    expect(v.devices[0]).toMatchObject({ state: 'ineligible', reason: 'aborted' })
  })
})
