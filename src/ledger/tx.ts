import { bytesEqual, concatBytes } from '../codec/bytes.js'
import { type DecodeError, decodeCbor, decodeError, encodeCbor, nestDecodeError } from '../codec/cbor.js'
import { type CID, cidOfEncoded, cidToString } from '../codec/cid.js'
import { err, ok, type Result } from '../codec/result.js'
import { array, bytes, cid, type Infer, literal, oneOf, struct, tagged, text, uint } from '../codec/schema.js'
import {
  CHUNK_BYTES_MAX,
  CHUNK_BYTES_MIN,
  DEVICE_GROUPS_MAX,
  IMAGE_BYTES_MAX,
  NAME_LENGTH_MAX,
  PUBLISHER_PRODUCTS_MAX,
  RELEASE_HARDWARE_MAX,
  REPORT_DETAIL_LENGTH_MAX,
  ROLLOUT_WAVES_MAX,
  TX_BYTES_MAX,
  VERSION_LENGTH_MAX,
} from '../constants.js'
import { SigningDomain } from '../crypto/domains.js'
import { type KeyPair, SIGNATURE_BYTES, sign, verify } from '../crypto/ed25519.js'

/**
 * Ledger transactions (DESIGN.md §3). A transaction is a body, canonical DAG-CBOR, signed by
 * the key named in the body under the `tx` signing domain. Its id is the CID of the body
 * bytes: the same body can never commit twice, and the chain id inside the body keeps a
 * transaction of one chain from being replayed on another.
 */

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
const name = text(NAME_LENGTH_MAX, NAME, 1)
/** A product a publisher may publish for, or `*` for every product. */
const productScope = text(NAME_LENGTH_MAX, /^(\*|[A-Za-z0-9][A-Za-z0-9._-]*)$/, 1)
const key = bytes(32)
const sha256Digest = bytes(32)
const version = text(VERSION_LENGTH_MAX, undefined, 5)

export const ROLES = ['publisher', 'approver', 'registrar'] as const
export type Role = (typeof ROLES)[number]

/**
 * The states of a device's update that are committed as signed reports (docs/lifecycle.md):
 * `downloading` when the fetch starts, `installing` when the hook starts (a device that goes
 * silent after it is the one to look at), `pending-reboot` when the image is written and the
 * old version runs until a reboot, then one outcome: `confirmed` (the new version booted and
 * the installer was told to keep it), `rolled-back` (another version runs after a reboot) or
 * `failed`. Verifying and waiting for the window are local: they change nothing on the device.
 */
export const REPORT_STATUSES = [
  'downloading',
  'installing',
  'pending-reboot',
  'confirmed',
  'rolled-back',
  'failed',
] as const
export type ReportStatus = (typeof REPORT_STATUSES)[number]

/** The statuses that end a device's update of a release. */
export const FINAL_REPORT_STATUSES: ReadonlySet<ReportStatus> = new Set([
  'confirmed',
  'rolled-back',
  'failed',
])

/** Fields every transaction carries. `nonce` lets an author say the same thing twice on purpose. */
const common = {
  chain: text(NAME_LENGTH_MAX, undefined, 1),
  signer: key,
  nonce: uint(),
}

const rolloutWave = struct(
  {
    /** Cumulative share of the fleet, in percent, that may install once this wave opens. */
    percent: uint(100, 1),
    /** When the wave opens, in milliseconds after the rollout start. */
    afterMs: uint(),
  },
  {
    /**
     * While this wave is the last one open, the share of targeted devices in open waves whose
     * committed failure reports halt the rollout: later waves do not open (rules.ts).
     */
    maxFailurePercent: uint(100),
  },
)

export const rolloutPlan = struct({
  /** Milliseconds since the epoch when the first wave opens. */
  start: uint(),
  waves: array(rolloutWave, ROLLOUT_WAVES_MAX, 1),
})
export type RolloutPlan = Infer<typeof rolloutPlan>

export const txBody = tagged({
  'role.grant': struct(
    { type: literal('role.grant'), ...common, subject: key, role: oneOf(...ROLES) },
    { products: array(productScope, PUBLISHER_PRODUCTS_MAX, 1) },
  ),
  'role.revoke': struct({ type: literal('role.revoke'), ...common, subject: key, role: oneOf(...ROLES) }),
  'device.register': struct({
    type: literal('device.register'),
    ...common,
    device: key,
    product: name,
    hardware: name,
    groups: array(name, DEVICE_GROUPS_MAX),
  }),
  'device.revoke': struct({
    type: literal('device.revoke'),
    ...common,
    device: key,
    reason: text(REPORT_DETAIL_LENGTH_MAX),
  }),
  'release.publish': struct(
    {
      type: literal('release.publish'),
      ...common,
      product: name,
      channel: name,
      version,
      // The limit here is the schema's; the rules check each chain's own list limit too.
      hardware: array(name, RELEASE_HARDWARE_MAX),
      imageSize: uint(IMAGE_BYTES_MAX, 1),
      imageSha256: sha256Digest,
      // The manifest id is derived from the four image fields (manifest-id.ts); the rules
      // refuse a release whose id is not the one its fields make.
      manifest: cid,
      chunkSize: uint(CHUNK_BYTES_MAX, CHUNK_BYTES_MIN),
      chunkHashesSha256: sha256Digest,
      rollout: rolloutPlan,
    },
    {
      minFrom: version,
      /**
       * Device tags (a device's `groups` on the ledger): when present, only devices carrying at
       * least one of them (and a listed hardware model) are targeted.
       */
      tags: array(name, DEVICE_GROUPS_MAX),
    },
  ),
  'release.approve': struct({ type: literal('release.approve'), ...common, release: cid }),
  'release.revoke': struct({
    type: literal('release.revoke'),
    ...common,
    release: cid,
    reason: text(REPORT_DETAIL_LENGTH_MAX),
  }),
  // Rollout control (docs/rollouts.md, "Controlling a rollout"): an admin or a publisher of
  // the product pauses, resumes or aborts a release, with a reason for the audit trail.
  'release.pause': struct({
    type: literal('release.pause'),
    ...common,
    release: cid,
    reason: text(REPORT_DETAIL_LENGTH_MAX),
  }),
  'release.resume': struct({
    type: literal('release.resume'),
    ...common,
    release: cid,
    reason: text(REPORT_DETAIL_LENGTH_MAX),
  }),
  'release.abort': struct({
    type: literal('release.abort'),
    ...common,
    release: cid,
    reason: text(REPORT_DETAIL_LENGTH_MAX),
  }),
  'install.report': struct(
    {
      type: literal('install.report'),
      ...common,
      release: cid,
      device: key,
      status: oneOf(...REPORT_STATUSES),
      imageSha256: sha256Digest,
      time: uint(),
    },
    {
      detail: text(REPORT_DETAIL_LENGTH_MAX),
      /** The version the device runs, when it knows: a `rolled-back` report names it. */
      running: version,
    },
  ),
})

/** Field decoders the ledger state's records share with transaction bodies (state-records.ts). */
export const txFields = { name, productScope, key, sha256Digest, version } as const

export type TxBody = Infer<typeof txBody>
export type TxType = TxBody['type']
export type TxOf<T extends TxType> = Extract<TxBody, { type: T }>

/** A transaction as it travels and is stored: the body bytes and a signature over them. */
export interface SignedTx {
  /** The CID of the body bytes: the transaction's identity. */
  readonly id: CID
  /** `id.toString()`, computed once: the key of every index. */
  readonly idString: string
  readonly body: TxBody
  readonly bodyBytes: Uint8Array
  readonly signature: Uint8Array
  /** The envelope `{body, sig}` as canonical DAG-CBOR: what blocks and gossip carry. */
  readonly bytes: Uint8Array
}

const envelope = struct({ body: bytes({ max: TX_BYTES_MAX }), sig: bytes(SIGNATURE_BYTES) })

/** Room for the envelope's own framing around the body and the signature. */
const ENVELOPE_OVERHEAD_BYTES = 96

function assemble(body: TxBody, bodyBytes: Uint8Array, signature: Uint8Array, bytes?: Uint8Array): SignedTx {
  const id = cidOfEncoded(bodyBytes)
  return {
    id,
    idString: cidToString(id),
    body,
    bodyBytes,
    signature,
    bytes: bytes ?? encodeEnvelope(bodyBytes, signature),
  }
}

// The canonical envelope is a map of two byte strings, keys in DAG-CBOR order ("sig" before
// "body" would be wrong: shorter keys sort first, so "sig" comes first). Built by hand because
// it is on the hot path of every transaction; a test checks it equals `encodeCbor`.
const SIG_KEY = Uint8Array.of(0x63, 0x73, 0x69, 0x67) // text(3) "sig"
const BODY_KEY = Uint8Array.of(0x64, 0x62, 0x6f, 0x64, 0x79) // text(4) "body"

function byteStringHeader(length: number): Uint8Array {
  if (length < 24) return Uint8Array.of(0x40 | length)
  if (length < 0x100) return Uint8Array.of(0x58, length)
  if (length < 0x10000) return Uint8Array.of(0x59, length >>> 8, length & 0xff)
  return Uint8Array.of(0x5a, length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff)
}

/** The canonical DAG-CBOR of `{body, sig}`. */
export function encodeEnvelope(bodyBytes: Uint8Array, signature: Uint8Array): Uint8Array {
  return concatBytes(
    Uint8Array.of(0xa2),
    SIG_KEY,
    byteStringHeader(signature.byteLength),
    signature,
    BODY_KEY,
    byteStringHeader(bodyBytes.byteLength),
    bodyBytes,
  )
}

/**
 * Signs a body with the signer's key. Refuses (RangeError) a body that names another signer
 * or that `decodeTx` would refuse, so nothing undecodable is ever signed.
 */
export function signTx(body: TxBody, keys: KeyPair): SignedTx {
  if (!bytesEqual(body.signer, keys.publicKey))
    throw new RangeError('the body names another key as its signer')
  const checked = txBody(body, 'body')
  if (!checked.ok) throw new RangeError(`not a valid transaction: ${checked.error.message}`)
  const bodyBytes = encodeCbor(body)
  if (bodyBytes.byteLength > TX_BYTES_MAX)
    throw new RangeError(`the transaction is over ${TX_BYTES_MAX} bytes`)
  return assemble(body, bodyBytes, sign(keys.secretKey, SigningDomain.tx, bodyBytes))
}

/** Builds a signed transaction from parts, without checking the signature (for tests of forgeries). */
export function assembleTx(body: TxBody, signature: Uint8Array): SignedTx {
  return assemble(body, encodeCbor(body), signature)
}

/** True when the signature is the body's signer's, for this body, as a transaction. */
export function verifyTxSignature(tx: SignedTx): boolean {
  return verify(tx.body.signer, SigningDomain.tx, tx.bodyBytes, tx.signature)
}

/**
 * Decodes an envelope from the wire or a block: canonical encodings only (the id is a hash
 * of bytes), every field typed and bounded. It does not check the signature: rules do.
 */
export function decodeTx(
  bytes: Uint8Array,
  txBytesMax: number = TX_BYTES_MAX,
): Result<SignedTx, DecodeError> {
  const outer = decodeCbor(bytes, txBytesMax + ENVELOPE_OVERHEAD_BYTES)
  if (!outer.ok) return outer
  const env = envelope(outer.value, '')
  if (!env.ok) return env
  if (!bytesEqual(encodeEnvelope(env.value.body, env.value.sig), bytes)) {
    return err(decodeError('non-canonical', '', 'the envelope is not in canonical DAG-CBOR form'))
  }
  if (env.value.body.byteLength > txBytesMax) {
    return err(decodeError('too-large', 'body', `${env.value.body.byteLength} bytes is over ${txBytesMax}`))
  }
  const inner = decodeCbor(env.value.body, txBytesMax, { canonical: true })
  if (!inner.ok) return err(nestDecodeError('body', inner.error))
  const body = txBody(inner.value, 'body')
  if (!body.ok) return body
  return ok(assemble(body.value, env.value.body, env.value.sig, bytes))
}
