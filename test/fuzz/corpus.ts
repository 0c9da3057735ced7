import { signCommit, signPrepare } from '../../simulations/consensus/forge.js'
import { encodeCbor } from '../../src/codec/cbor.js'
import { cidOf } from '../../src/codec/cid.js'
import { encode, type Msg, type ViewChange, viewChangeStatement } from '../../src/consensus/messages.js'
import { EMPTY_SAFETY_RECORD, type SafetyRecord } from '../../src/consensus/safety.js'
import { SigningDomain } from '../../src/crypto/domains.js'
import { sign } from '../../src/crypto/ed25519.js'
import type { Block } from '../../src/ledger/block.js'
import { type Certificate, encodeCertificate } from '../../src/ledger/certificate.js'
import { DevBlockBuilder, makeDevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import type { TableName } from '../../src/ledger/state.js'
import type { SignedTx } from '../../src/ledger/tx.js'
import { frameOf } from '../../src/node/frame-reader.js'
import { Prng } from '../../src/prng.js'
import { encodeManifest, manifestCid, manifestOfBytes } from '../../src/transfer/manifest.js'
import { type ChunkMessage, encodeChunkMessage } from '../../src/transfer/messages.js'

/**
 * Valid encodings of everything a node decodes, built once from a seeded dev chain: the
 * starting points the fuzzer mutates. Each decoder's first test checks all of them decode.
 */

const chain = makeDevChain({ seed: 'fuzz-corpus', validators: 4, approvers: 2 })
const g = chain.genesis
const f = new TxFactory(chain)
const builder = new DevBlockBuilder(chain)
const device = chain.key('device')
const keys = new Map(chain.validators.map((v, i) => [i, v.secretKey]))

const image = Prng.fromSeed('fuzz-image').bytes(100 * 1024)
const manifest = manifestOfBytes(image, 16 * 1024)
const manifestBytes = encodeManifest(manifest)
const mcid = manifestCid(manifest)

const publish = f.publish({
  product: 'gw',
  version: '1.2.0',
  hardware: ['rev-a', 'rev-b'],
  imageSize: manifest.imageSize,
  imageSha256: manifest.imageSha256,
  chunkHashesSha256: manifest.chunkHashesSha256,
  manifest: mcid,
  chunkSize: manifest.chunkSize,
  minFrom: '1.0.0',
  rollout: {
    start: g.time,
    waves: [
      { percent: 10, afterMs: 0 },
      { percent: 100, afterMs: 60_000 },
    ],
  },
})
const republish = f.publish({
  product: 'gw',
  version: '1.3.0',
  hardware: ['rev-a'],
  imageSize: manifest.imageSize,
  imageSha256: manifest.imageSha256,
  chunkHashesSha256: manifest.chunkHashesSha256,
  manifest: mcid,
  chunkSize: manifest.chunkSize,
})

/** Transactions of every type. */
export const txs: SignedTx[] = [
  ...f.bootstrap(),
  f.grantRole(chain.key('lab').publicKey, 'publisher', ['gw', 'cam']),
  f.registerDevice(device.publicKey, 'gw', 'rev-a', ['eu', 'beta']),
  publish,
  republish,
  ...chain.approvers.map((a) => f.approve(publish.id, a)),
  f.report(device, publish.id, 'confirmed', manifest.imageSha256, g.time + 10_000, 'ok in 12 s'),
  f.revoke(republish.id, 'bricks rev-a boards'),
  f.revokeRole(chain.key('lab').publicKey, 'publisher'),
]

/** Certified blocks over those transactions (and an empty one), in order. */
export const blocks: Array<{ block: Block; cert: Certificate }> = [
  builder.next(txs.slice(0, 4)),
  builder.next(txs.slice(4, 7)),
  builder.next(txs.slice(7, 9)),
  builder.next(txs.slice(9)),
  builder.next([]),
]

const [b1, b2, b3] = blocks as [(typeof blocks)[0], (typeof blocks)[0], (typeof blocks)[0]]
const vcFields = {
  view: 4,
  validator: 2,
  head: { height: 1, block: b1.block.hash, cert: b1.cert },
  prepared: {
    height: 2,
    view: 3,
    block: b2.block.hash,
    votes: [0, 1, 2].map((i) => ({
      validator: i,
      sig: signPrepare(keys.get(i)!, g.chainId, 2, 3, b2.block.hash),
    })),
  },
}
const viewChange: ViewChange = {
  type: 'view-change',
  ...vcFields,
  sig: sign(keys.get(2)!, SigningDomain.consensus, viewChangeStatement(g.chainId, vcFields)),
  preparedBlock: b2.block,
}
const { preparedBlock: _, ...bareViewChange } = viewChange

/** Validator messages: proposals, votes, view changes, status and sync requests. */
export const consensusMessages: Msg[] = [
  {
    type: 'pre-prepare',
    view: 0,
    height: 3,
    validator: 3,
    block: b3.block,
    sig: signPrepare(keys.get(3)!, g.chainId, 3, 0, b3.block.hash),
  },
  {
    type: 'prepare',
    view: 0,
    height: 3,
    block: b3.block.hash,
    validator: 1,
    sig: signPrepare(keys.get(1)!, g.chainId, 3, 0, b3.block.hash),
  },
  {
    type: 'commit',
    view: 0,
    height: 3,
    block: b3.block.hash,
    validator: 2,
    sig: signCommit(keys.get(2)!, g.chainId, 3, 0, b3.block.hash),
  },
  viewChange,
  bareViewChange,
  {
    type: 'new-view',
    view: 4,
    validator: 0,
    viewChanges: [bareViewChange, bareViewChange],
    sig: new Uint8Array(64).fill(7),
  },
  { type: 'status', height: 12, view: 3 },
  { type: 'sync-request', height: 5, count: 64 },
  { type: 'tx', tx: publish },
]

/** Sync responses: empty, one block, and every block. */
export const syncResponses: Msg[] = [
  { type: 'sync-response', blocks: [] },
  { type: 'sync-response', blocks: [b1] },
  { type: 'sync-response', blocks },
]

/** What travels on the gossip topics: transactions and committed blocks. */
export const gossipMessages = {
  tx: txs.map((tx): Msg => ({ type: 'tx', tx })),
  block: blocks.map(({ block, cert }): Msg => ({ type: 'block', block, cert })),
}

export const encodeMsg = (m: Msg) => encode(m)
export const certificates = blocks.map((b) => encodeCertificate(b.cert))

/** Manifests: the corpus image's, a one-chunk image's, and an image of exactly two chunks. */
export const manifests: Uint8Array[] = [
  manifestBytes,
  encodeManifest(manifestOfBytes(image.subarray(0, 1000), 16 * 1024)),
  encodeManifest(manifestOfBytes(image.subarray(0, 64 * 1024), 32 * 1024)),
]

/** Chunk protocol messages of every type. */
export const chunkMessages: ChunkMessage[] = [
  { type: 'have', manifest: mcid, bitfield: new Uint8Array([0xff, 0x80]) },
  { type: 'have-update', manifest: mcid, chunks: [0, 5, 6] },
  { type: 'request', manifest: mcid, chunk: 3 },
  { type: 'chunk', manifest: mcid, chunk: 3, data: image.subarray(3 * 16 * 1024, 3 * 16 * 1024 + 300) },
  { type: 'chunk', manifest: mcid, chunk: 0, data: new Uint8Array(0) },
  { type: 'not-found', manifest: mcid, chunk: 4, reason: 'not-held' },
  { type: 'not-found', manifest: mcid, chunk: 4, reason: 'busy' },
  { type: 'cancel', manifest: mcid, chunk: 4 },
  { type: 'manifest-request', manifest: mcid },
  { type: 'manifest', manifest: mcid, bytes: manifestBytes },
]
export const chunkMessageBytes = chunkMessages.map((m) => encodeChunkMessage(m))

/** Streams of length-prefixed chunk frames, as a neighbour sends them. */
export const chunkStreams: Uint8Array[] = [
  ...chunkMessageBytes.map((m) => frameOf([m]).subarray()),
  new Uint8Array(Buffer.concat(chunkMessageBytes.map((m) => frameOf([m]).subarray()))),
]

/** The ledger state's records as the store writes them, with their table, and the head record. */
export const stateRecords: Array<{ table: TableName; bytes: Uint8Array }> = builder.state
  .tables()
  .flatMap((table) =>
    [...table.entries()].map(([, value]) => ({ table: table.name, bytes: encodeCbor(value) })),
  )
export const headRecord = encodeCbor(builder.state.head)

export { chain, mcid }
export const sampleCid = cidOf({ fuzz: 'corpus' })

/** A validator's safety record (on disk): empty, and with signed votes and a prepared block. */
export const safetyRecords: SafetyRecord[] = [
  EMPTY_SAFETY_RECORD,
  {
    view: 7,
    changing: true,
    signed: { height: 2, view: 7, prepare: b2.block.hash, commit: null },
    prepared: { proof: vcFields.prepared, block: b2.block },
    newViewSent: 5,
    decision: { view: 7, height: 2, block: b2.block.hashString, headFrom: 1 },
  },
]
