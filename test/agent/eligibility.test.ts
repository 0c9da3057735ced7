import { describe, expect, it } from 'vitest'
import {
  awaitsApproval,
  type DeviceProfile,
  type Eligibility,
  installEligibility,
  parseMaintenanceWindow,
  releaseEligibility,
  rolloutBucket,
} from '../../src/agent/index.js'
import { parseSemVer } from '../../src/ledger/semver.js'
import { DAY, HOUR, type ReleaseOptions, T0, World } from './world.js'

const NOW = T0 + HOUR

function profile(world: World): DeviceProfile {
  return {
    product: 'gw',
    hardware: 'rev-b',
    channel: 'stable',
    bucket: rolloutBucket(world.device.publicKey),
  }
}

describe('agent: eligibility (the pure check)', () => {
  const cases: Array<{
    name: string
    release: ReleaseOptions
    revoke?: boolean
    installed?: string
    expected: Eligibility
  }> = [
    {
      name: 'an approved release for this device',
      release: { version: '1.1.0' },
      expected: { eligible: true },
    },
    {
      name: 'an unapproved release',
      release: { version: '1.1.0', approve: false },
      expected: { eligible: false, reason: 'not-approved' },
    },
    {
      name: 'a revoked release (revocation is checked first)',
      release: { version: '1.1.0', hardware: ['rev-c'] },
      revoke: true,
      expected: { eligible: false, reason: 'revoked' },
    },
    {
      name: 'another product',
      release: { version: '1.1.0', product: 'camera' },
      expected: { eligible: false, reason: 'other-product' },
    },
    {
      name: 'another channel',
      release: { version: '1.1.0', channel: 'beta' },
      expected: { eligible: false, reason: 'other-channel' },
    },
    {
      name: 'other hardware',
      release: { version: '1.1.0', hardware: ['rev-a', 'rev-c'] },
      expected: { eligible: false, reason: 'other-hardware' },
    },
    {
      name: 'one of several listed boards',
      release: { version: '1.1.0', hardware: ['rev-a', 'rev-b'] },
      expected: { eligible: true },
    },
    {
      name: 'an older version',
      release: { version: '1.1.0' },
      installed: '1.2.0',
      expected: { eligible: false, reason: 'not-newer' },
    },
    {
      name: 'the installed version',
      release: { version: '1.1.0' },
      installed: '1.1.0',
      expected: { eligible: false, reason: 'not-newer' },
    },
    {
      name: 'a release above the installed pre-release',
      release: { version: '1.1.0' },
      installed: '1.1.0-rc.2',
      expected: { eligible: true },
    },
    {
      name: 'installed below min-from',
      release: { version: '2.0.0', minFrom: '1.5.0' },
      installed: '1.4.9',
      expected: { eligible: false, reason: 'below-min-from' },
    },
    {
      name: 'installed exactly at min-from',
      release: { version: '2.0.0', minFrom: '1.5.0' },
      installed: '1.5.0',
      expected: { eligible: true },
    },
    {
      name: 'a wave that opens tomorrow',
      release: { version: '1.1.0', rollout: { start: T0 + DAY, waves: [{ percent: 100, afterMs: 0 }] } },
      expected: { eligible: false, reason: 'wave-closed', opensAt: T0 + DAY },
    },
  ]
  for (const c of cases) {
    it(`agent: eligibility (the pure check): ${c.name}`, () => {
      const w = new World()
      const id = w.publish(c.release)
      if (c.revoke) w.revoke(id)
      const installed = parseSemVer(c.installed ?? '1.0.0')!
      expect(releaseEligibility(w.release(id), profile(w), installed, NOW), c.name).toEqual(c.expected)
    })
  }

  it('agent: eligibility (the pure check): a registration that names other hardware or another product stops every install', () => {
    const w = new World()
    const id = w.publish({ version: '1.1.0', hardware: ['rev-b', 'rev-c'] })
    const installed = parseSemVer('1.0.0')!
    const judge = (registration: DeviceProfile['registration']) =>
      releaseEligibility(w.release(id), { ...profile(w), registration }, installed, NOW)
    expect(judge({ product: 'gw', hardware: 'rev-b' }), 'the registration agrees').toEqual({ eligible: true })
    expect(judge(undefined), 'not registered: the configuration decides').toEqual({ eligible: true })
    expect(
      judge({ product: 'gw', hardware: 'rev-c' }),
      'registered as another board the release also lists',
    ).toEqual({
      eligible: false,
      reason: 'registration-mismatch',
    })
    expect(judge({ product: 'camera', hardware: 'rev-b' }), 'registered as another product').toEqual({
      eligible: false,
      reason: 'registration-mismatch',
    })
  })

  it('agent: eligibility (the pure check): the window is checked last and says when it opens', () => {
    const w = new World()
    const id = w.publish({ version: '1.1.0' })
    const window = parseMaintenanceWindow({ start: '02:00', end: '04:30' })
    if (!window.ok) throw new Error(window.error.message)
    const installed = parseSemVer('1.0.0')!
    expect(installEligibility(w.release(id), profile(w), installed, window.value, T0 + HOUR)).toEqual({
      eligible: false,
      reason: 'window-closed',
      opensAt: T0 + 2 * HOUR,
    })
    expect(installEligibility(w.release(id), profile(w), installed, window.value, T0 + 2 * HOUR)).toEqual({
      eligible: true,
    })
    expect(installEligibility(w.release(id), profile(w), installed, null, T0 + HOUR)).toEqual({
      eligible: true,
    })
  })
})

describe('agent: awaitsApproval (which manifest a device fetches ahead of the approval)', () => {
  const cases: Array<{ name: string; release: ReleaseOptions; revoke?: boolean; expected: boolean }> = [
    {
      name: 'an unapproved release for this device',
      release: { version: '1.1.0', approve: false },
      expected: true,
    },
    { name: 'an approved one', release: { version: '1.1.0' }, expected: true },
    {
      name: 'one whose wave opens tomorrow',
      release: { version: '1.1.0', rollout: { start: T0 + DAY, waves: [{ percent: 100, afterMs: 0 }] } },
      expected: true,
    },
    { name: 'a revoked one', release: { version: '1.1.0', approve: false }, revoke: true, expected: false },
    {
      name: 'other hardware',
      release: { version: '1.1.0', approve: false, hardware: ['rev-a'] },
      expected: false,
    },
    {
      name: 'another product',
      release: { version: '1.1.0', approve: false, product: 'camera' },
      expected: false,
    },
    { name: 'not newer', release: { version: '1.0.0', approve: false }, expected: false },
  ]
  for (const c of cases) {
    it(`agent: awaitsApproval: ${c.name}`, () => {
      const w = new World()
      const id = w.publish(c.release)
      if (c.revoke) w.revoke(id)
      expect(awaitsApproval(w.release(id), profile(w), parseSemVer('1.0.0')!), c.name).toBe(c.expected)
    })
  }
})

describe('agent: eligibility under rollout control', () => {
  const installed = parseSemVer('1.0.0')!
  function approved(): { w: World; record: () => ReturnType<World['release']>; id: string } {
    const w = new World()
    const id = w.publish({ version: '1.1.0' })
    return { w, id, record: () => w.release(id) }
  }

  it('refuses a paused release, without a time to look again, and is eligible once resumed', () => {
    const { w, record } = approved()
    const paused = { ...record(), paused: { height: 9, time: NOW, by: new Uint8Array(32), reason: 'x' } }
    expect(releaseEligibility(paused, profile(w), installed, NOW)).toEqual({
      eligible: false,
      reason: 'paused',
    })
    expect(releaseEligibility(record(), profile(w), installed, NOW)).toEqual({ eligible: true })
  })

  it('refuses an aborted release, and does not fetch its manifest ahead of approval', () => {
    const { w, record } = approved()
    const aborted = { ...record(), aborted: { height: 9, time: NOW, by: new Uint8Array(32), reason: 'x' } }
    expect(releaseEligibility(aborted, profile(w), installed, NOW)).toEqual({
      eligible: false,
      reason: 'aborted',
    })
    expect(awaitsApproval(aborted, profile(w), installed)).toBe(false)
  })

  it('refuses a halted release to devices above the share open at the halt, and lets the rest go on', () => {
    const { w, record } = approved()
    const bucket = profile(w).bucket
    const halt = (percent: number) => ({
      ...record(),
      halted: { height: 9, time: NOW, wave: 0, percent, failures: 1, targeted: 10 },
    })
    const below = Math.floor(bucket / 100)
    expect(releaseEligibility(halt(below), profile(w), installed, NOW)).toEqual({
      eligible: false,
      reason: 'halted',
    })
    expect(releaseEligibility(halt(100), profile(w), installed, NOW)).toEqual({ eligible: true })
  })

  it('refuses a tagged release to a device that carries none of its tags', () => {
    const { w, record } = approved()
    const tagged = { ...record(), tags: ['lab'] }
    const device = (tags: string[]): DeviceProfile => ({
      ...profile(w),
      registration: { product: 'gw', hardware: 'rev-b', tags },
    })
    expect(releaseEligibility(tagged, device(['field']), installed, NOW)).toEqual({
      eligible: false,
      reason: 'other-tags',
    })
    expect(releaseEligibility(tagged, profile(w), installed, NOW)).toEqual({
      eligible: false,
      reason: 'other-tags',
    })
    expect(releaseEligibility(tagged, device(['field', 'lab']), installed, NOW)).toEqual({ eligible: true })
  })
})
