/**
 * Mix-and-match (issue 19, part 8): a release the ledger accepts is one a conforming device
 * accepts. Seeded fast-check: publish transactions with fields drawn from good and bad values
 * (versions, min-from versions, hardware lists, sizes, chunk sizes, manifest ids of every CID
 * form, rollout plans) go through the ledger's rules; for each one the rules accept, the
 * release record must pass every check a device makes of a record before and while it
 * downloads, using the device's own code:
 *
 * - eligibility (src/agent/eligibility.ts) for a device of that product, channel and a listed
 *   hardware model, registered as such or not, running the release's min-from version (or the
 *   lowest version there is), in the first rollout bucket, once its wave has opened;
 * - the agent's persisted state holding it as a target (src/agent/state.ts);
 * - the node's parsing of the manifest id (parseCid);
 * - a manifest with the record's image fields and a chunk list of the committed digest decoding
 *   within the device's manifest limits, its header's CID being the record's manifest id
 *   (decodeManifest with the expected id).
 *
 * Manifest ids are drawn as the id the fields make (mostly), the id of other fields
 * (mix-and-match) and ids of every CID form.
 */
import fc from 'fast-check'
import * as Digest from 'multiformats/hashes/digest'
import { describe, expect, it } from 'vitest'
import { type DeviceProfile, releaseEligibility } from '../../src/agent/eligibility.js'
import { waveOpensAt } from '../../src/agent/rollout.js'
import { decodeAgentState, encodeAgentState, initialAgentState } from '../../src/agent/state.js'
import { CID, parseCid } from '../../src/codec/cid.js'
import { sha256 } from '../../src/codec/hash.js'
import {
  CHUNK_BYTES_MAX,
  CHUNK_BYTES_MIN,
  IMAGE_BYTES_MAX,
  MANIFEST_CHUNKS_MAX,
} from '../../src/constants.js'
import { makeDevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import { manifestHeaderOf, manifestIdOf } from '../../src/ledger/manifest-id.js'
import { apply } from '../../src/ledger/rules.js'
import { parseSemVer } from '../../src/ledger/semver.js'
import { LedgerState, type ReleaseRecord } from '../../src/ledger/state.js'
import { signTx, type TxBody } from '../../src/ledger/tx.js'
import { decodeManifest, encodeManifest, type Manifest, SHA256_BYTES } from '../../src/transfer/manifest.js'

const chain = makeDevChain({ seed: 'release-conformance' })
const f = new TxFactory(chain)
const base = (() => {
  let state = new LedgerState(chain.genesis)
  for (const tx of [...f.bootstrap(), f.publish(published('gw', '1.0.0'))]) {
    const r = apply(state, tx, { height: 1, time: chain.genesis.time })
    if (!r.ok) throw new Error(r.error.message)
    state = r.value
  }
  return state
})()

function published(product: string, version: string) {
  return {
    product,
    version,
    hardware: ['rev-a'],
    imageSize: 1000,
    imageSha256: new Uint8Array(32),
  }
}

/** A chunk list a device can be handed for `chunks` chunks (all zero hashes: no chunk is fetched). */
const chunkLists = new Map<number, { hashes: Uint8Array; digest: Uint8Array }>()
function chunkList(chunks: number) {
  let list = chunkLists.get(chunks)
  if (!list) {
    const hashes = new Uint8Array(chunks * SHA256_BYTES)
    list = { hashes, digest: sha256(hashes) }
    chunkLists.set(chunks, list)
  }
  return list
}

const semver = fc
  .tuple(
    fc.nat({ max: 3 }),
    fc.nat({ max: 3 }),
    fc.nat({ max: 3 }),
    fc.option(fc.constantFrom('0', '1', 'alpha', 'rc.1', '0.0', 'beta.2'), { nil: undefined }),
    fc.option(fc.constantFrom('build.1', '7', 'sha.abc'), { nil: undefined }),
  )
  .map(
    ([a, b, c, pre, build]) =>
      `${a}.${b}.${c}${pre !== undefined ? `-${pre}` : ''}${build ? `+${build}` : ''}`,
  )
const version = fc.oneof(
  { weight: 8, arbitrary: semver },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '1.2',
      '01.2.3',
      '1.2.3-01',
      'v1.2.3',
      '1.2.3.4',
      '0.0.0-0',
      '9007199254740992.0.0',
    ),
  },
)
const digestOf = (code: number, size: number) =>
  fc.uint8Array({ minLength: size, maxLength: size }).map((d) => Digest.create(code, d))
/** The manifest id a publish names: `derived` is replaced by the id its fields make. */
const manifestId = fc.oneof(
  { weight: 25, arbitrary: fc.constant('derived' as const) },
  { weight: 2, arbitrary: fc.constant('other-fields' as const) },
  { weight: 2, arbitrary: digestOf(0x12, 32).map((d) => CID.createV1(0x71, d)) },
  { weight: 1, arbitrary: digestOf(0x12, 32).map((d) => CID.createV1(0x55, d)) },
  { weight: 1, arbitrary: digestOf(0x12, 32).map((d) => CID.createV0(d as Digest.Digest<0x12, 32>)) },
  { weight: 1, arbitrary: digestOf(0x13, 64).map((d) => CID.createV1(0x71, d)) },
  { weight: 1, arbitrary: digestOf(0x00, 40).map((d) => CID.createV1(0x71, d)) },
  { weight: 1, arbitrary: digestOf(0x12, 20).map((d) => CID.createV1(0x71, d)) },
)
const time = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 4_000_000_000_000 }) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: Number.MAX_SAFE_INTEGER - 1_000_000, max: Number.MAX_SAFE_INTEGER }),
  },
)
const waves = fc.array(fc.record({ percent: fc.integer({ min: 1, max: 100 }), afterMs: time }), {
  minLength: 1,
  maxLength: 3,
})
/** The same waves with percentages and offsets each in increasing order, as a plan must be. */
function ordered(list: { percent: number; afterMs: number }[]) {
  const percents = list.map((w) => w.percent).sort((a, b) => a - b)
  const offsets = list.map((w) => w.afterMs).sort((a, b) => a - b)
  return list.map((_, i) => ({ percent: percents[i]!, afterMs: offsets[i]! }))
}
const publishDraft = fc.record({
  product: fc.constantFrom('gw', 'cam'),
  channel: fc.constantFrom('stable', 'beta'),
  version,
  minFrom: fc.option(version, { nil: undefined, freq: 2 }),
  hardware: fc.oneof(
    { weight: 8, arbitrary: fc.uniqueArray(fc.constantFrom('rev-a', 'rev-b', 'rev-c'), { minLength: 1 }) },
    { weight: 1, arbitrary: fc.array(fc.constantFrom('rev-a', 'rev-b', 'rev-c'), { maxLength: 4 }) },
  ),
  imageSize: fc.oneof(
    fc.integer({ min: 1, max: 4 * 1024 * 1024 }),
    fc.integer({ min: 1, max: IMAGE_BYTES_MAX }),
  ),
  chunkSize: fc.oneof(
    fc.constantFrom(CHUNK_BYTES_MIN, 256 * 1024, CHUNK_BYTES_MAX),
    fc.integer({ min: CHUNK_BYTES_MIN, max: CHUNK_BYTES_MAX }),
  ),
  imageSha256: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  manifest: manifestId,
  rollout: fc.record({
    start: time,
    waves: fc.oneof({ weight: 6, arbitrary: waves.map(ordered) }, { weight: 1, arbitrary: waves }),
  }),
})
/** A publish body: the chunk-hash digest of a list a device can be handed, and its manifest id. */
const publishBody = publishDraft.map(({ manifest, ...fields }) => {
  const chunks = Math.ceil(fields.imageSize / fields.chunkSize)
  const chunkHashesSha256 =
    chunks <= MANIFEST_CHUNKS_MAX ? chunkList(chunks).digest : new Uint8Array(32).fill(7)
  const image = { ...fields, chunkHashesSha256 }
  const id =
    manifest === 'derived'
      ? manifestIdOf(image)
      : manifest === 'other-fields'
        ? manifestIdOf({ ...image, imageSize: image.imageSize + 1 })
        : manifest
  return { ...image, manifest: id }
})

type Body = typeof publishBody extends fc.Arbitrary<infer T> ? T : never

/** Every check a device makes of a release record; the first that fails, or undefined. */
function deviceRefusal(
  record: ReleaseRecord,
  hardwareIndex: number,
  registered: boolean,
): string | undefined {
  // The node parses the manifest id.
  const manifestId = parseCid(record.manifest)
  if (!manifestId) return 'the node cannot parse the manifest id'
  // A manifest of the record's image fields and a chunk list of the committed digest decodes
  // within the device's limits, and its header is the one the manifest id names.
  const chunks = Math.ceil(record.imageSize / record.chunkSize)
  if (chunks > MANIFEST_CHUNKS_MAX) return 'too many chunks for a manifest'
  const list = chunkList(chunks)
  const manifest: Manifest = {
    ...manifestHeaderOf({ ...record, chunkHashesSha256: list.digest }),
    chunkHashes: list.hashes,
  }
  const decoded = decodeManifest(encodeManifest(manifest), { expectedCid: manifestId })
  if (!decoded.ok) return `the device refuses the manifest: ${decoded.error.message}`
  // The agent holds it as its target in the state it persists.
  const target = {
    ...initialAgentState('0.0.0'),
    phase: 'downloading' as const,
    target: {
      release: record.id,
      version: record.version,
      manifest: record.manifest,
      imageSize: record.imageSize,
      imageSha256: record.imageSha256,
    },
  }
  const persisted = decodeAgentState(encodeAgentState(target))
  if (!persisted.ok) return `the agent cannot persist it as a target: ${persisted.error.message}`
  // Eligible for some conforming device, once approved and its wave open.
  const installed = parseSemVer(record.minFrom ?? '0.0.0-0')
  if (!installed) return 'no version a device could run'
  const hardware = record.hardware[hardwareIndex % Math.max(1, record.hardware.length)]
  if (hardware === undefined) return 'no hardware model'
  const device: DeviceProfile = {
    product: record.product,
    channel: record.channel,
    hardware,
    bucket: 0,
    ...(registered ? { registration: { product: record.product, hardware } } : {}),
  }
  const opensAt = waveOpensAt(record.rollout, 0)
  if (opensAt === undefined || !Number.isSafeInteger(opensAt)) return 'no wave ever opens'
  const approved: ReleaseRecord = { ...record, approvals: 2, approvedAt: record.publishedAt + 1 }
  const verdict = releaseEligibility(approved, device, installed, opensAt)
  if (!verdict.eligible) return `not eligible: ${verdict.reason}`
  return undefined
}

describe('ledger: a release the ledger accepts is one a conforming device accepts', () => {
  it('for random publish transactions (seeded)', () => {
    let accepted = 0
    let refused = 0
    const codes = new Map<string, number>()
    fc.assert(
      fc.property(publishBody, fc.nat(), fc.boolean(), (fields: Body, hardwareIndex, registered) => {
        const { minFrom, ...rest } = fields
        const body = {
          type: 'release.publish',
          chain: chain.genesis.chainId,
          signer: chain.publisher.publicKey,
          nonce: 1,
          ...rest,
          ...(minFrom === undefined ? {} : { minFrom }),
        }
        let tx: ReturnType<typeof signTx>
        try {
          tx = signTx(body as TxBody, chain.publisher)
        } catch {
          // Not even a transaction (the schema refuses it): nothing to submit.
          return
        }
        const result = apply(base, tx, { height: 2, time: chain.genesis.time + 1 })
        if (!result.ok) {
          refused++
          codes.set(result.error.code, (codes.get(result.error.code) ?? 0) + 1)
          return
        }
        accepted++
        const record = result.value.release(tx.idString)
        expect(record).toBeDefined()
        expect(
          deviceRefusal(record!, hardwareIndex, registered),
          `accepted ${JSON.stringify(fields.version)}`,
        ).toBe(undefined)
      }),
      { seed: 20260119, numRuns: 500 },
    )
    // Both sides of the property were exercised, and every refusal was typed.
    expect(accepted).toBeGreaterThan(100)
    expect(refused).toBeGreaterThan(100)
    expect([...codes.keys()].every((code) => code.startsWith('publish.'))).toBe(true)
  })
})
