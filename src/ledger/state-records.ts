import { type DecodeError, decodeCbor, nestDecodeError } from '../codec/cbor.js'
import type { Result } from '../codec/result.js'
import { array, nullable, oneOf, struct, text, uint } from '../codec/schema.js'
import {
  DEVICE_GROUPS_MAX,
  PUBLISHER_PRODUCTS_MAX,
  RELEASE_HARDWARE_MAX,
  REPORT_DETAIL_LENGTH_MAX,
  STATE_RECORD_BYTES_MAX,
  STORE_HEAD_BYTES_MAX,
} from '../constants.js'
import type { Head, TableName } from './state.js'
import { ROLES, rolloutPlan, txFields } from './tx.js'

/**
 * Typed decoders of the ledger state's records as the store keeps them on disk (one DAG-CBOR
 * value per key, a table per sublevel). A record read at open is bounded in size and depth and
 * checked field by field like a transaction from a peer: a damaged or edited record is a typed
 * `DecodeError` naming the field, never an object of the wrong shape in the state.
 */

const { name, productScope, key, sha256Digest, version } = txFields
/**
 * A CID as the state keeps it: the base32 string of a CIDv1 over sha2-256 (36 bytes), `b` and
 * 58 characters, from `cidToString`.
 */
const cidString = text(59, /^b[a-z2-7]{58}$/, 59)

const roleRecord = struct({
  role: oneOf(...ROLES),
  subject: key,
  products: nullable(array(productScope, PUBLISHER_PRODUCTS_MAX, 1)),
  grantedAt: uint(),
})

const deviceRecord = struct(
  {
    publicKey: key,
    product: name,
    hardware: name,
    groups: array(name, DEVICE_GROUPS_MAX),
    registeredAt: uint(),
    installed: nullable(struct({ version, height: uint() }, { release: cidString })),
  },
  { failed: cidString },
)

const controlRecord = struct({
  height: uint(),
  time: uint(),
  by: key,
  reason: text(REPORT_DETAIL_LENGTH_MAX),
})

const releaseRecord = struct(
  {
    id: cidString,
    product: name,
    channel: name,
    version,
    hardware: array(name, RELEASE_HARDWARE_MAX),
    imageSize: uint(),
    imageSha256: sha256Digest,
    manifest: cidString,
    chunkSize: uint(),
    rollout: rolloutPlan,
    minFrom: nullable(version),
    publisher: key,
    publishedAt: uint(),
    publishedTime: uint(),
    approvals: uint(),
    approvedAt: nullable(uint()),
    revoked: nullable(controlRecord),
  },
  {
    tags: array(name, DEVICE_GROUPS_MAX),
    paused: controlRecord,
    aborted: controlRecord,
    halted: struct({
      height: uint(),
      time: uint(),
      wave: uint(),
      percent: uint(100),
      failures: uint(),
      targeted: uint(),
    }),
    failures: uint(),
  },
)

const recordSchemas = {
  roles: roleRecord,
  devices: deviceRecord,
  releases: releaseRecord,
  /** `product/channel` → the latest version. */
  latest: version,
  /** `release/approver` → the height of the approval. */
  approvals: uint(),
  /** Transaction id → the height it committed at. */
  txs: uint(),
} as const

const headSchema = struct({ height: uint(), hash: nullable(cidString), time: uint() })

/** Decodes one record of a state table, as the store wrote it. */
export function decodeStateRecord(table: TableName, bytes: Uint8Array): Result<unknown, DecodeError> {
  const raw = decodeCbor(bytes, STATE_RECORD_BYTES_MAX, { canonical: true })
  if (!raw.ok) return raw
  const record = recordSchemas[table](raw.value, '')
  return record.ok ? record : { ok: false, error: nestDecodeError(table, record.error) }
}

/** Decodes the store's head record: the height, hash and time of the last committed block. */
export function decodeHead(bytes: Uint8Array): Result<Head, DecodeError> {
  const raw = decodeCbor(bytes, STORE_HEAD_BYTES_MAX, { canonical: true })
  if (!raw.ok) return raw
  return headSchema(raw.value, '')
}
