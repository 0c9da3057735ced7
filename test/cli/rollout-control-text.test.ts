import { describe, expect, it } from 'vitest'
import { rolloutView } from '../../src/agent/rollout-view.js'
import { parseWave } from '../../src/cli/commands/publish.js'
import { renderRollout, rolloutVerdict } from '../../src/cli/commands/rollout.js'
import { ExitCode } from '../../src/cli/output.js'
import type { ReleaseRecord } from '../../src/ledger/state.js'

const T0 = 1_700_000_000_000

function release(over: Partial<ReleaseRecord> = {}): ReleaseRecord {
  return {
    id: 'bafyreirelease',
    product: 'gw',
    channel: 'stable',
    version: '2.0.0',
    hardware: ['rev-a'],
    imageSize: 1,
    imageSha256: new Uint8Array(32),
    manifest: 'bafymanifest',
    chunkSize: 1,
    rollout: {
      start: T0,
      waves: [
        { percent: 10, afterMs: 0, maxFailurePercent: 5 },
        { percent: 100, afterMs: 60_000 },
      ],
    },
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

const view = (r: ReleaseRecord) =>
  rolloutView({ release: r, devices: [], reports: [], progress: () => undefined, now: T0 + 120_000 })

describe('cli: rollout control in words', () => {
  it('reads a wave with a failure threshold, and refuses one over 100 %', () => {
    expect(parseWave('10@0/5')).toEqual({ percent: 10, afterMs: 0, maxFailurePercent: 5 })
    expect(parseWave('100@2h')).toEqual({ percent: 100, afterMs: 7_200_000 })
    expect(() => parseWave('10@0/101')).toThrow(/PERCENT@DELAY\[\/MAXFAIL\]/)
  })

  it('says a rollout halted, which waves it keeps shut, and exits 9 from a watch', () => {
    const halted = { height: 9, time: T0, wave: 0, percent: 10, failures: 6, targeted: 105 }
    const v = view(release({ halted, failures: 6 }))
    const text = renderRollout(v)
    expect(text).toContain('halted at wave 0: 6 of 105 devices in open waves failed')
    expect(text).toContain('wave 0: 10 % open since')
    expect(text).toContain('(halts at 5 % failed)')
    expect(text).toMatch(/wave 1: 100 % halted, would open since/)
    expect(rolloutVerdict(v, false, '0')?.exitCode).toBe(ExitCode.rolloutFailed)
  })

  it('says who paused a rollout and why', () => {
    const paused = { height: 5, time: T0, by: new Uint8Array(32).fill(1), reason: 'desk closed' }
    expect(renderRollout(view(release({ paused })))).toMatch(/: paused by did:key:\S+: desk closed/)
  })
})
