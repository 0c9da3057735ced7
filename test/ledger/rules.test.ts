import * as Digest from 'multiformats/hashes/digest'
import { describe, expect, it } from 'vitest'
import { CID, cidOf } from '../../src/codec/cid.js'
import { CHUNK_BYTES_MIN, MANIFEST_CHUNKS_MAX } from '../../src/constants.js'
import { type DevChain, makeDevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import type { RejectionCode } from '../../src/ledger/rejection.js'
import { apply } from '../../src/ledger/rules.js'
import { isInstallable, LedgerState } from '../../src/ledger/state.js'
import { assembleTx, type SignedTx, signTx, type TxBody } from '../../src/ledger/tx.js'
import { Prng } from '../../src/prng.js'
import { manifestCid, manifestOfBytes } from '../../src/transfer/manifest.js'

const HASH = new Uint8Array(32).fill(3)
const OTHER_HASH = new Uint8Array(32).fill(4)

/** A chain with roles granted, one device, and release gw 1.2.0 published and approved. */
function world() {
  const chain = makeDevChain({
    seed: 'rules',
    approvers: 3,
    approvalThreshold: 2,
    params: { imageBytesMax: 1024 ** 3 },
  })
  const f = new TxFactory(chain)
  const device = chain.key('device')
  const scoped = chain.key('scoped-publisher')
  const outsider = chain.key('outsider')
  let state = new LedgerState(chain.genesis)
  let height = 0
  const commit = (tx: SignedTx) => {
    const r = apply(state, tx, { height: ++height, time: chain.genesis.time + height })
    if (!r.ok) throw new Error(`setup: ${r.error.message}`)
    state = r.value
  }
  for (const tx of f.bootstrap()) commit(tx)
  commit(f.grantRole(scoped.publicKey, 'publisher', ['camera']))
  commit(f.registerDevice(device.publicKey, 'gw', 'rev-b'))
  const release = f.publish({
    product: 'gw',
    version: '1.2.0',
    hardware: ['rev-b'],
    imageSize: 100,
    imageSha256: HASH,
  })
  commit(release)
  commit(f.approve(release.id, chain.approvers[0]!))
  commit(f.approve(release.id, chain.approvers[1]!))
  const revoked = f.publish({
    product: 'gw',
    channel: 'beta',
    version: '2.0.0-rc.1',
    hardware: ['rev-b'],
    imageSize: 100,
    imageSha256: HASH,
  })
  commit(revoked)
  commit(f.revoke(revoked.id, 'bricks rev-b boards'))
  return { chain, f, device, scoped, outsider, release, revoked, state: () => state, height: () => height }
}

type World = ReturnType<typeof world>

/** A release of another product by the camera-scoped publisher; the same transaction on every call. */
function cameraRelease(w: World): SignedTx {
  return signTx(
    {
      ...w.f.publish(publishFields({ product: 'camera', version: '1.0.0' }), w.scoped).body,
      nonce: 4242,
    } as TxBody,
    w.scoped,
  )
}

function publishFields(overrides: Record<string, unknown> = {}) {
  return {
    product: 'gw',
    version: '1.3.0',
    hardware: ['rev-b'],
    imageSize: 100,
    imageSha256: HASH,
    ...overrides,
  }
}

/** Signs an arbitrary body as `keys`, for cases the factory would not build. */
function raw(
  chain: DevChain,
  keys: { publicKey: Uint8Array; secretKey: Uint8Array },
  fields: Record<string, unknown>,
): SignedTx {
  return signTx(
    { chain: chain.genesis.chainId, signer: keys.publicKey, nonce: 999, ...fields } as TxBody,
    keys,
  )
}

/** Commits `tx` on top of `state` for a case's setup. */
function committed(state: LedgerState, tx: SignedTx): LedgerState {
  const r = apply(state, tx, { height: 50, time: 0 })
  if (!r.ok) throw new Error(`setup: ${r.error.message}`)
  return r.value
}

const cases: Array<{
  rule: string
  code: RejectionCode
  tx: (w: World) => SignedTx
  /** What must be on the ledger first, beyond the shared world. */
  setup?: (w: World, state: LedgerState) => LedgerState
}> = [
  {
    rule: 'a transaction for another chain',
    code: 'tx.wrong-chain',
    tx: (w) => signTx({ ...w.release.body, chain: 'other-chain', nonce: 77 } as TxBody, w.chain.publisher),
  },
  { rule: 'a replayed transaction (same id)', code: 'tx.duplicate', tx: (w) => w.release },
  {
    rule: 'a signature by another key',
    code: 'tx.bad-signature',
    tx: (w) =>
      assembleTx(
        w.f.publish(publishFields()).body,
        w.f.publish(publishFields({ version: '9.9.9' })).signature,
      ),
  },
  {
    rule: 'a signer the ledger does not know',
    code: 'signer.unknown',
    tx: (w) => w.f.publish(publishFields(), w.outsider),
  },
  {
    rule: 'a role granted by a non-admin',
    code: 'role.not-admin',
    tx: (w) => w.f.grantRole(w.outsider.publicKey, 'approver', undefined, w.chain.publisher),
  },
  {
    rule: 'a publisher role without products',
    code: 'role.products-required',
    tx: (w) => w.f.grantRole(w.outsider.publicKey, 'publisher'),
  },
  {
    rule: 'an approver role with products',
    code: 'role.products-unexpected',
    tx: (w) => w.f.grantRole(w.outsider.publicKey, 'approver', ['gw']),
  },
  {
    rule: 'revoking a role that is not held',
    code: 'role.not-held',
    tx: (w) => w.f.revokeRole(w.outsider.publicKey, 'registrar'),
  },
  {
    rule: 'a device registered by a non-registrar',
    code: 'device.not-registrar',
    tx: (w) => w.f.registerDevice(w.outsider.publicKey, 'gw', 'rev-b', [], w.chain.publisher),
  },
  {
    rule: 'a device registered twice',
    code: 'device.already-registered',
    tx: (w) => w.f.registerDevice(w.device.publicKey, 'gw', 'rev-b'),
  },
  {
    rule: 'a device revoked by a non-registrar',
    code: 'device.not-registrar',
    tx: (w) => w.f.revokeDevice(w.device.publicKey, 'stolen', w.chain.publisher),
  },
  {
    rule: 'revoking a device that is not registered',
    code: 'device.not-registered',
    tx: (w) => w.f.revokeDevice(w.outsider.publicKey, 'stolen'),
  },
  {
    rule: 'a release by a key without the publisher role',
    code: 'publish.not-publisher',
    tx: (w) => w.f.publish(publishFields(), w.chain.approvers[0]),
  },
  {
    rule: 'a release outside the publisher product scope',
    code: 'publish.out-of-scope',
    tx: (w) => w.f.publish(publishFields(), w.scoped),
  },
  {
    rule: 'a version that is not semver',
    code: 'publish.bad-version',
    tx: (w) => w.f.publish(publishFields({ version: '1.3.x' })),
  },
  {
    rule: 'a downgrade',
    code: 'publish.not-newer',
    tx: (w) => w.f.publish(publishFields({ version: '1.1.9' })),
  },
  {
    rule: 'an equal version (a replay of an old release under a new nonce)',
    code: 'publish.not-newer',
    tx: (w) => w.f.publish(publishFields({ version: '1.2.0' })),
  },
  {
    rule: 'a pre-release of the latest version',
    code: 'publish.not-newer',
    tx: (w) => w.f.publish(publishFields({ version: '1.2.0-rc.9' })),
  },
  {
    rule: 'a minFrom newer than the release',
    code: 'publish.bad-min-from',
    tx: (w) => w.f.publish(publishFields({ minFrom: '1.4.0' })),
  },
  {
    rule: 'an empty hardware list',
    code: 'publish.empty-hardware',
    tx: (w) => w.f.publish(publishFields({ hardware: [] })),
  },
  {
    rule: 'a hardware model listed twice',
    code: 'publish.duplicate-hardware',
    tx: (w) => w.f.publish(publishFields({ hardware: ['a', 'a'] })),
  },
  {
    rule: 'an image over the chain limit',
    code: 'publish.too-large',
    tx: (w) => w.f.publish(publishFields({ imageSize: w.chain.genesis.params.imageBytesMax + 1 })),
  },
  {
    rule: 'rollout waves that go backwards',
    code: 'publish.bad-rollout',
    tx: (w) =>
      w.f.publish(
        publishFields({
          rollout: {
            start: 0,
            waves: [
              { percent: 50, afterMs: 0 },
              { percent: 10, afterMs: 5 },
            ],
          },
        }),
      ),
  },
  {
    rule: 'an approval by a non-approver',
    code: 'approve.not-approver',
    tx: (w) => w.f.approve(w.release.id, w.chain.publisher),
  },
  {
    rule: 'an approval of an unknown release',
    code: 'approve.unknown-release',
    tx: (w) => w.f.approve(cidOf('nothing'), w.chain.approvers[0]!),
  },
  {
    rule: 'an approval of a revoked release',
    code: 'approve.revoked',
    tx: (w) => w.f.approve(w.revoked.id, w.chain.approvers[0]!),
  },
  {
    rule: 'a second approval by one approver',
    code: 'approve.duplicate',
    tx: (w) => w.f.approve(w.release.id, w.chain.approvers[0]!),
  },
  {
    rule: 'an approval by the release publisher',
    code: 'approve.self-approval',
    // The publisher also holds the approver role here; four eyes still need two people.
    setup: (w, state) => committed(state, w.f.grantRole(w.chain.publisher.publicKey, 'approver')),
    tx: (w) => w.f.approve(w.release.id, w.chain.publisher),
  },
  {
    rule: 'a revocation by a publisher of another product',
    code: 'revoke.not-authorized',
    tx: (w) => w.f.revoke(w.release.id, 'x', w.scoped),
  },
  {
    rule: 'a revocation of an unknown release',
    code: 'revoke.unknown-release',
    tx: (w) => w.f.revoke(cidOf('nothing'), 'x'),
  },
  {
    rule: 'a second revocation',
    code: 'revoke.already-revoked',
    tx: (w) => w.f.revoke(w.revoked.id, 'again'),
  },
  {
    rule: 'a report from an unregistered device',
    code: 'report.unregistered-device',
    tx: (w) => w.f.report(w.outsider, w.release.id, 'confirmed', HASH, 1),
  },
  {
    rule: 'a report signed by a key other than the device key',
    code: 'report.wrong-signer',
    tx: (w) =>
      raw(w.chain, w.chain.registrar, {
        type: 'install.report',
        release: w.release.id,
        device: w.device.publicKey,
        status: 'confirmed',
        imageSha256: HASH,
        time: 1,
      }),
  },
  {
    rule: 'a report about an unknown release',
    code: 'report.unknown-release',
    tx: (w) => w.f.report(w.device, cidOf('nothing'), 'confirmed', HASH, 1),
  },
  {
    rule: 'a report about a release of another product',
    code: 'report.wrong-product',
    setup: (w, state) => committed(state, cameraRelease(w)),
    tx: (w) => w.f.report(w.device, cameraRelease(w).id, 'confirmed', HASH, 1),
  },
  {
    rule: 'a confirmed report with another image hash',
    code: 'report.hash-mismatch',
    tx: (w) => w.f.report(w.device, w.release.id, 'confirmed', OTHER_HASH, 1),
  },
  {
    rule: 'a confirmed report that says another version runs',
    code: 'report.running-mismatch',
    tx: (w) => w.f.report(w.device, w.release.id, 'confirmed', HASH, 1, undefined, '1.1.0'),
  },
  {
    rule: "a rolled-back report that says the release's own version runs",
    code: 'report.running-mismatch',
    tx: (w) => w.f.report(w.device, w.release.id, 'rolled-back', HASH, 1, 'watchdog', '1.2.0'),
  },
]

describe('ledger: rules refuse', () => {
  for (const c of cases) {
    it(`${c.rule} (${c.code}), and leave the state unchanged`, () => {
      const w = world()
      const state = c.setup ? c.setup(w, w.state()) : w.state()
      const tx = c.tx(w)
      const before = [...state.tables().map((t) => [...t.entries()].length)]
      const result = apply(state, tx, { height: 100, time: 0 })
      expect(result.ok ? 'accepted' : result.error.code).toBe(c.code)
      if (!result.ok) expect(result.error.message.length, 'a sentence for people').toBeGreaterThan(10)
      expect(state.tables().map((t) => [...t.entries()].length)).toEqual(before)
    })
  }
})

describe('ledger: rules accept', () => {
  it('makes a release installable exactly when approvals reach the threshold', () => {
    const w = world()
    const f = w.f
    const next = f.publish(publishFields())
    let state = w.state()
    const step = (tx: SignedTx, height: number) => {
      const r = apply(state, tx, { height, time: height })
      if (!r.ok) throw new Error(r.error.message)
      state = r.value
    }
    step(next, 20)
    expect(isInstallable(state.release(next.idString)!)).toBe(false)
    step(f.approve(next.id, w.chain.approvers[0]!), 21)
    expect(isInstallable(state.release(next.idString)!), 'one approval of two').toBe(false)
    step(f.approve(next.id, w.chain.approvers[1]!), 22)
    expect(state.release(next.idString)!.approvedAt).toBe(22)
    step(f.approve(next.id, w.chain.approvers[2]!), 23)
    expect(
      state.release(next.idString)!.approvedAt,
      'a third approval does not move the approval height',
    ).toBe(22)
    expect(state.release(next.idString)!.approvals).toBe(3)
  })

  it('records the installed version of a device from its confirmed report only', () => {
    const w = world()
    let state = w.state()
    for (const [i, status] of (['downloading', 'installing', 'pending-reboot'] as const).entries()) {
      const r = apply(state, w.f.report(w.device, w.release.id, status, OTHER_HASH, 1 + i), {
        height: 30,
        time: 0,
      })
      if (!r.ok) throw new Error(r.error.message)
      state = r.value
    }
    const ok1 = { value: state }
    expect(ok1.value.device(w.device.publicKey)!.installed).toBeNull()
    const ok2 = apply(ok1.value, w.f.report(w.device, w.release.id, 'confirmed', HASH, 2), {
      height: 31,
      time: 0,
    })
    if (!ok2.ok) throw new Error(ok2.error.message)
    expect(ok2.value.device(w.device.publicKey)!.installed).toEqual({
      release: w.release.idString,
      version: '1.2.0',
      height: 31,
    })
  })

  it('records the version a rolled-back report names as the one the device runs, without a release', () => {
    const w = world()
    const r = apply(
      w.state(),
      w.f.report(w.device, w.release.id, 'rolled-back', HASH, 1, 'booted slot A', '1.0.3'),
      {
        height: 32,
        time: 0,
      },
    )
    if (!r.ok) throw new Error(r.error.message)
    expect(r.value.device(w.device.publicKey)!.installed).toEqual({ version: '1.0.3', height: 32 })
  })

  it('lets a scoped publisher publish for its product, and a revoked role no longer publish', () => {
    const w = world()
    const cam = w.f.publish(publishFields({ product: 'camera', version: '0.1.0' }), w.scoped)
    const r = apply(w.state(), cam, { height: 40, time: 0 })
    expect(r.ok).toBe(true)
    const revoked = apply(w.state(), w.f.revokeRole(w.scoped.publicKey, 'publisher'), { height: 40, time: 0 })
    if (!revoked.ok) throw new Error(revoked.error.message)
    const after = apply(revoked.value, cam, { height: 41, time: 0 })
    expect(after.ok ? 'accepted' : after.error.code).toBe('signer.unknown')
  })

  it('revokes a device: its reports are refused from then on, and it can be registered again', () => {
    const w = world()
    const revoked = apply(w.state(), w.f.revokeDevice(w.device.publicKey, 'stolen from site 4'), {
      height: 40,
      time: 0,
    })
    if (!revoked.ok) throw new Error(revoked.error.message)
    expect(revoked.value.device(w.device.publicKey)).toBeUndefined()
    const report = apply(revoked.value, w.f.report(w.device, w.release.id, 'confirmed', HASH, 3), {
      height: 41,
      time: 0,
    })
    expect(report.ok ? 'accepted' : report.error.code).toBe('report.unregistered-device')
    const again = apply(revoked.value, w.f.registerDevice(w.device.publicKey, 'gw', 'rev-b'), {
      height: 42,
      time: 0,
    })
    expect(again.ok).toBe(true)
  })

  it('treats channels separately: a beta version does not block a lower stable one', () => {
    const w = world()
    const r = apply(w.state(), w.f.publish(publishFields({ version: '1.2.1' })), { height: 40, time: 0 })
    expect(r.ok).toBe(true)
  })
})

describe('ledger: rules refuse at submit what every conforming device would refuse', () => {
  // This chain's images may be as large as any (4 GiB), so the chunking case is not refused
  // for the image's size first.
  const chain = makeDevChain({ seed: 'rules-device' })
  const f = new TxFactory(chain)
  let state = new LedgerState(chain.genesis)
  for (const tx of f.bootstrap()) {
    const r = apply(state, tx, { height: 1, time: chain.genesis.time })
    if (!r.ok) throw new Error(r.error.message)
    state = r.value
  }
  const fields = (overrides: Record<string, unknown> = {}) =>
    ({
      product: 'gw',
      version: '1.0.0',
      hardware: ['rev-a'],
      imageSize: 4096,
      imageSha256: HASH,
      ...overrides,
    }) as Parameters<TxFactory['publish']>[0]
  const digest32 = new Uint8Array(32).fill(5)
  const examples: Array<[string, RejectionCode, Parameters<TxFactory['publish']>[0]]> = [
    [
      'a manifest id of the raw codec (no DAG-CBOR manifest hashes to it)',
      'publish.bad-manifest',
      fields({ manifest: CID.createV1(0x55, Digest.create(0x12, digest32)) }),
    ],
    [
      'a CIDv0 manifest id (devices take CIDv1 only)',
      'publish.bad-manifest',
      fields({ manifest: CID.createV0(Digest.create(0x12, digest32)) }),
    ],
    [
      'a manifest id with a SHA-512 digest',
      'publish.bad-manifest',
      fields({ manifest: CID.createV1(0x71, Digest.create(0x13, new Uint8Array(64).fill(5))) }),
    ],
    [
      'a manifest id with an identity "hash" that holds no manifest',
      'publish.bad-manifest',
      fields({ manifest: CID.createV1(0x71, Digest.create(0x00, new Uint8Array(40).fill(5))) }),
    ],
    [
      `an image of more chunks than a manifest may list (${MANIFEST_CHUNKS_MAX})`,
      'publish.bad-chunking',
      fields({ imageSize: (MANIFEST_CHUNKS_MAX + 1) * CHUNK_BYTES_MIN, chunkSize: CHUNK_BYTES_MIN }),
    ],
    [
      'the lowest version there is (0.0.0-0): no device runs an older one',
      'publish.bad-version',
      fields({ version: '0.0.0-0+build.7' }),
    ],
    [
      'a rollout wave that opens past 2^53 ms',
      'publish.bad-rollout',
      fields({
        rollout: {
          start: Number.MAX_SAFE_INTEGER - 10,
          waves: [{ percent: 100, afterMs: 11 }],
        },
      }),
    ],
  ]
  for (const [what, code, publish] of examples) {
    it(`${what} (${code})`, () => {
      const result = apply(state, f.publish(publish), { height: 2, time: chain.genesis.time })
      expect(result.ok ? 'accepted' : result.error.code).toBe(code)
    })
  }

  it('accepts the edges a device accepts: exactly the chunk limit, 0.0.0-1, a wave at 2^53 - 1', () => {
    for (const publish of [
      fields({ imageSize: MANIFEST_CHUNKS_MAX * CHUNK_BYTES_MIN, chunkSize: CHUNK_BYTES_MIN }),
      fields({ version: '0.0.0-1' }),
      fields({ rollout: { start: Number.MAX_SAFE_INTEGER - 10, waves: [{ percent: 100, afterMs: 10 }] } }),
    ]) {
      const result = apply(state, f.publish(publish), { height: 2, time: chain.genesis.time })
      expect(result.ok ? 'accepted' : result.error.message).toBe('accepted')
    }
  })
})

describe('ledger: a release whose manifest id is not its own fields’ is refused (mix-and-match)', () => {
  const chain = makeDevChain({ seed: 'rules-mix' })
  const f = new TxFactory(chain)
  let state = new LedgerState(chain.genesis)
  for (const tx of f.bootstrap()) {
    const r = apply(state, tx, { height: 1, time: chain.genesis.time })
    if (!r.ok) throw new Error(r.error.message)
    state = r.value
  }
  const image = manifestOfBytes(Prng.fromSeed('mix-a').bytes(3 * CHUNK_BYTES_MIN + 5), CHUNK_BYTES_MIN)
  const other = manifestOfBytes(Prng.fromSeed('mix-b').bytes(2 * CHUNK_BYTES_MIN), CHUNK_BYTES_MIN)
  /** The release of `image`: its own fields and its own manifest id, then `overrides`. */
  const release = (overrides: Record<string, unknown> = {}) =>
    ({
      product: 'gw',
      version: '1.0.0',
      hardware: ['rev-a'],
      imageSize: image.imageSize,
      imageSha256: image.imageSha256,
      chunkSize: image.chunkSize,
      chunkHashesSha256: image.chunkHashesSha256,
      manifest: manifestCid(image),
      ...overrides,
    }) as Parameters<TxFactory['publish']>[0]
  const submit = (fields: Parameters<TxFactory['publish']>[0]) =>
    apply(state, f.publish(fields), { height: 2, time: chain.genesis.time })

  const mixes: Array<[string, Record<string, unknown>]> = [
    ['the manifest id of another image', { manifest: manifestCid(other) }],
    ['the SHA-256 of another image', { imageSha256: other.imageSha256 }],
    ['the size of another image', { imageSize: other.imageSize }],
    ['another chunk size', { chunkSize: 2 * image.chunkSize }],
    ['the chunk-hash digest of another image', { chunkHashesSha256: other.chunkHashesSha256 }],
  ]
  for (const [what, overrides] of mixes) {
    it(`refuses an image’s release with ${what} (publish.manifest-mismatch, naming both ids)`, () => {
      const result = submit(release(overrides))
      expect(result.ok ? 'accepted' : result.error.code).toBe('publish.manifest-mismatch')
      if (!result.ok) expect(result.error.message).toContain(String(release(overrides).manifest))
    })
  }

  it('accepts the release whose manifest id is that of its own fields', () => {
    const result = submit(release())
    expect(result.ok ? 'accepted' : result.error.message).toBe('accepted')
  })
})
