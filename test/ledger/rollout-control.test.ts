import { describe, expect, it } from 'vitest'
import { makeDevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import type { RejectionCode } from '../../src/ledger/rejection.js'
import { rolloutBucket } from '../../src/ledger/rollout-waves.js'
import { apply } from '../../src/ledger/rules.js'
import { isInstallable, LedgerState } from '../../src/ledger/state.js'
import type { RolloutPlan, SignedTx } from '../../src/ledger/tx.js'

const HASH = new Uint8Array(32).fill(3)

/** A chain with roles, `devices` registered gw rev-b devices, and an approved release with `rollout`. */
function world(devices = 1, rollout?: RolloutPlan, tags?: string[]) {
  const chain = makeDevChain({ seed: 'control', approvers: 2, approvalThreshold: 1 })
  const f = new TxFactory(chain)
  const scoped = chain.key('camera-publisher')
  const outsider = chain.key('outsider')
  let state = new LedgerState(chain.genesis)
  let height = 0
  let time = chain.genesis.time
  const tryCommit = (tx: SignedTx, at = time) => {
    time = at
    const r = apply(state, tx, { height: height + 1, time })
    if (r.ok) {
      state = r.value
      height++
    }
    return r
  }
  const commit = (tx: SignedTx, at = time) => {
    const r = tryCommit(tx, at)
    if (!r.ok) throw new Error(`setup: ${r.error.message}`)
  }
  for (const tx of f.bootstrap()) commit(tx)
  commit(f.grantRole(scoped.publicKey, 'publisher', ['camera']))
  const keys = Array.from({ length: devices }, (_, i) => chain.key(`device-${i}`))
  for (const [i, k] of keys.entries())
    commit(f.registerDevice(k.publicKey, 'gw', 'rev-b', i % 2 === 0 ? ['lab'] : ['field']))
  const release = f.publish({
    product: 'gw',
    version: '1.2.0',
    hardware: ['rev-b'],
    imageSize: 100,
    imageSha256: HASH,
    ...(rollout ? { rollout } : {}),
    ...(tags ? { tags } : {}),
  })
  commit(release)
  commit(f.approve(release.id, chain.approvers[0]!))
  const record = () => state.release(release.id.toString())!
  return { chain, f, scoped, outsider, keys, release, record, commit, tryCommit, state: () => state }
}

function refusal(r: { ok: boolean; error?: { code: RejectionCode } }): RejectionCode | undefined {
  return r.ok ? undefined : r.error!.code
}

describe('ledger: rollout control', () => {
  it('lets the publisher pause a release with a reason, and resume it', () => {
    const w = world()
    w.commit(w.f.control('release.pause', w.release.id, 'support queue is full'))
    expect(w.record().paused?.reason).toBe('support queue is full')
    expect(isInstallable(w.record())).toBe(true)
    w.commit(w.f.control('release.resume', w.release.id, 'queue drained'))
    expect(w.record().paused).toBeUndefined()
  })

  it('refuses to pause a paused release, or resume one that is neither paused nor halted', () => {
    const w = world()
    expect(refusal(w.tryCommit(w.f.control('release.resume', w.release.id, 'x')))).toBe('control.not-paused')
    w.commit(w.f.control('release.pause', w.release.id, 'x'))
    expect(refusal(w.tryCommit(w.f.control('release.pause', w.release.id, 'again')))).toBe(
      'control.already-paused',
    )
  })

  it('refuses control from a publisher of another product, an unknown key, and of an unknown release', () => {
    const w = world()
    expect(refusal(w.tryCommit(w.f.control('release.pause', w.release.id, 'x', w.scoped)))).toBe(
      'control.not-authorized',
    )
    expect(refusal(w.tryCommit(w.f.control('release.pause', w.release.id, 'x', w.outsider)))).toBe(
      'signer.unknown',
    )
    const unpublished = w.f.publish({
      product: 'gw',
      version: '9.0.0',
      hardware: ['rev-b'],
      imageSize: 1,
      imageSha256: HASH,
    })
    expect(refusal(w.tryCommit(w.f.control('release.abort', unpublished.id, 'x', w.chain.admin)))).toBe(
      'control.unknown-release',
    )
  })

  it('makes an abort final: the release is not installable and nothing controls it after', () => {
    const w = world()
    w.commit(w.f.control('release.abort', w.release.id, 'wrong image', w.chain.admin))
    expect(w.record().aborted?.reason).toBe('wrong image')
    expect(w.record().revoked).toBeNull()
    expect(isInstallable(w.record())).toBe(false)
    for (const type of ['release.pause', 'release.resume', 'release.abort'] as const)
      expect(refusal(w.tryCommit(w.f.control(type, w.release.id, 'x', w.chain.admin)))).toBe('control.final')
  })

  it('refuses to control a revoked release', () => {
    const w = world()
    w.commit(w.f.revoke(w.release.id, 'bricks boards'))
    expect(refusal(w.tryCommit(w.f.control('release.pause', w.release.id, 'x')))).toBe('control.final')
  })
})

describe('ledger: per-wave failure threshold', () => {
  const DEVICES = 200
  const plan = (start: number): RolloutPlan => ({
    start,
    waves: [
      { percent: 20, afterMs: 0, maxFailurePercent: 10 },
      { percent: 100, afterMs: 60_000 },
    ],
  })

  function halting() {
    const probe = makeDevChain({ seed: 'control', approvers: 2, approvalThreshold: 1 })
    const w = world(DEVICES, plan(probe.genesis.time))
    const firstWave = w.keys.filter((k) => rolloutBucket(k.publicKey) < 2000)
    const later = w.keys.filter((k) => rolloutBucket(k.publicKey) >= 2000)
    const fail = (k: (typeof w.keys)[number]) =>
      w.tryCommit(w.f.report(k, w.release.id, 'failed', HASH, probe.genesis.time + 10))
    return { ...w, firstWave, later, fail }
  }

  it('halts the release at the failed report that reaches the threshold of targeted devices in open waves', () => {
    const w = halting()
    const targeted = w.firstWave.length
    const needed = Math.ceil((10 * targeted) / 100)
    for (const k of w.firstWave.slice(0, needed - 1)) expect(w.fail(k).ok).toBe(true)
    expect(w.record().halted).toBeUndefined()
    expect(w.record().failures).toBe(needed - 1)
    w.fail(w.firstWave[needed - 1]!)
    expect(w.record().halted).toMatchObject({ wave: 0, percent: 20, failures: needed, targeted })
  })

  it('counts a device once per release, and not at all before its wave opens', () => {
    const w = halting()
    w.fail(w.firstWave[0]!)
    w.fail(w.firstWave[0]!)
    w.fail(w.later[0]!)
    expect(w.record().failures).toBe(1)
  })

  it('lets only an admin resume a halted release, and the next failure checks the threshold again', () => {
    const w = halting()
    for (const k of w.firstWave) w.fail(k)
    expect(w.record().halted).toBeDefined()
    expect(refusal(w.tryCommit(w.f.control('release.resume', w.release.id, 'looked at it')))).toBe(
      'control.halt-needs-admin',
    )
    w.commit(w.f.control('release.resume', w.release.id, 'known flaky hook', w.chain.admin))
    expect(w.record().halted).toBeUndefined()
  })

  it('refuses a wave threshold over 100 % before anything is signed', () => {
    const probe = makeDevChain({ seed: 'control', approvers: 2, approvalThreshold: 1 })
    const f = new TxFactory(probe)
    const waves = [{ percent: 10, afterMs: 0, maxFailurePercent: 101 }]
    expect(() =>
      f.publish({
        product: 'gw',
        version: '1.0.0',
        hardware: ['rev-b'],
        imageSize: 1,
        imageSha256: HASH,
        rollout: { start: probe.genesis.time, waves },
      }),
    ).toThrow(/maxFailurePercent/)
  })

  it('counts only devices the release targets by tag', () => {
    const probe = makeDevChain({ seed: 'control', approvers: 2, approvalThreshold: 1 })
    const w = world(DEVICES, plan(probe.genesis.time), ['lab'])
    const field = w.keys.filter((_, i) => i % 2 === 1 && rolloutBucket(w.keys[i]!.publicKey) < 2000)
    for (const k of field) w.tryCommit(w.f.report(k, w.release.id, 'failed', HASH, probe.genesis.time + 10))
    expect(w.record().failures ?? 0).toBe(0)
    expect(w.record().tags).toEqual(['lab'])
  })
})
