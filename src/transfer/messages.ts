/**
 * Messages of the chunk protocol (`/fwmesh/<chain>/chunks/1`, DESIGN.md §7): a discriminated
 * union on `type`, each a DAG-CBOR map decoded against a schema with explicit limits. Every
 * message names the manifest (by CID) it is about, so one long-lived stream can carry several
 * downloads. A retired type tag is never reused; a new incompatible shape gets a new protocol id.
 */
import { assert } from '../codec/assert.js'
import { type DecodeError, decodeCbor, decodeError, encodeCbor } from '../codec/cbor.js'
import type { CID } from '../codec/cid.js'
import { err, ok, type Result } from '../codec/result.js'
import { array, bytes, cid, literal, oneOf, struct, tagged, uint } from '../codec/schema.js'
import {
  CHUNK_BYTES_MAX,
  CHUNK_CONTROL_MESSAGE_BYTES_MAX,
  CHUNK_MESSAGE_BYTES_MAX,
  HAVE_UPDATE_CHUNKS_MAX,
  MANIFEST_BYTES_MAX,
  MANIFEST_CHUNKS_MAX,
} from '../constants.js'
import { bitfieldBytes } from './bitfield.js'

/** The libp2p protocol id of the chunk protocol on a chain. */
export function chunkProtocolId(chainId: string): string {
  return `/fwmesh/${chainId}/chunks/1`
}

/** Every chunk this node holds of an image (bitfield.ts layout), sent when a stream opens. */
export interface HaveMessage {
  readonly type: 'have'
  readonly manifest: CID
  readonly bitfield: Uint8Array
}

/** Chunks this node has come to hold since its last have or have-update. */
export interface HaveUpdateMessage {
  readonly type: 'have-update'
  readonly manifest: CID
  readonly chunks: readonly number[]
}

/** Asks for one chunk. */
export interface RequestMessage {
  readonly type: 'request'
  readonly manifest: CID
  readonly chunk: number
}

/** One chunk's bytes, in answer to a request. */
export interface ChunkDataMessage {
  readonly type: 'chunk'
  readonly manifest: CID
  readonly chunk: number
  readonly data: Uint8Array
}

/** A request that will not be answered: the chunk is not held (any more), or the uploader is busy. */
export interface NotFoundMessage {
  readonly type: 'not-found'
  readonly manifest: CID
  readonly chunk: number
  readonly reason: 'not-held' | 'busy'
}

/** Withdraws a request (timed out, or the chunk came from elsewhere in end-game). */
export interface CancelMessage {
  readonly type: 'cancel'
  readonly manifest: CID
  readonly chunk: number
}

/**
 * Asks for a manifest by its CID: a device learns the CID from the ledger and fetches the
 * manifest itself from any neighbour, checking it against the CID.
 */
export interface ManifestRequestMessage {
  readonly type: 'manifest-request'
  readonly manifest: CID
}

/** A manifest's encoding, in answer to a manifest request; unanswered when not held. */
export interface ManifestMessage {
  readonly type: 'manifest'
  readonly manifest: CID
  readonly bytes: Uint8Array
}

export type ChunkMessage =
  | ManifestRequestMessage
  | ManifestMessage
  | HaveMessage
  | HaveUpdateMessage
  | RequestMessage
  | ChunkDataMessage
  | NotFoundMessage
  | CancelMessage

/** The bounds messages are decoded against; defaults from src/constants.ts. */
export interface ChunkMessageLimits {
  readonly chunksMax: number
  readonly chunkBytesMax: number
  readonly haveUpdateChunksMax: number
}

export const DEFAULT_CHUNK_MESSAGE_LIMITS: ChunkMessageLimits = {
  chunksMax: MANIFEST_CHUNKS_MAX,
  chunkBytesMax: CHUNK_BYTES_MAX,
  haveUpdateChunksMax: HAVE_UPDATE_CHUNKS_MAX,
}

function schemaFor(limits: ChunkMessageLimits) {
  const index = uint(limits.chunksMax - 1)
  return tagged({
    have: struct({
      type: literal('have'),
      manifest: cid,
      bitfield: bytes({ min: 1, max: bitfieldBytes(limits.chunksMax) }),
    }),
    'have-update': struct({
      type: literal('have-update'),
      manifest: cid,
      chunks: array(index, limits.haveUpdateChunksMax, 1),
    }),
    request: struct({ type: literal('request'), manifest: cid, chunk: index }),
    chunk: struct({
      type: literal('chunk'),
      manifest: cid,
      chunk: index,
      data: bytes({ max: limits.chunkBytesMax }),
    }),
    'not-found': struct({
      type: literal('not-found'),
      manifest: cid,
      chunk: index,
      reason: oneOf('not-held', 'busy'),
    }),
    cancel: struct({ type: literal('cancel'), manifest: cid, chunk: index }),
    'manifest-request': struct({ type: literal('manifest-request'), manifest: cid }),
    manifest: struct({
      type: literal('manifest'),
      manifest: cid,
      bytes: bytes({ min: 1, max: MANIFEST_BYTES_MAX }),
    }),
  })
}

const defaultSchema = schemaFor(DEFAULT_CHUNK_MESSAGE_LIMITS)

/** The largest encoding of a message of this type that a decoder accepts. */
export function messageBytesMax(type: ChunkMessage['type'], limits = DEFAULT_CHUNK_MESSAGE_LIMITS): number {
  if (type === 'chunk') return limits.chunkBytesMax + 1024
  if (type === 'manifest') return MANIFEST_BYTES_MAX + 1024
  return CHUNK_CONTROL_MESSAGE_BYTES_MAX
}

/**
 * Encodes one of our own messages. A message over its limit is our bug (the scheduler and the
 * store never produce one), so it is an assertion, not an error.
 */
export function encodeChunkMessage(msg: ChunkMessage, limits = DEFAULT_CHUNK_MESSAGE_LIMITS): Uint8Array {
  const encoded = encodeCbor(msg)
  assert(
    encoded.byteLength <= messageBytesMax(msg.type, limits),
    'an outgoing chunk message within its limit',
  )
  return encoded
}

/** `{ data: <bytes>` opening a chunk message: keys sort by length then bytes, so `data` is first. */
const CHUNK_DATA_KEY = new Uint8Array([0xa4, 0x64, 0x64, 0x61, 0x74, 0x61])
const EMPTY = new Uint8Array(0)

/** The CBOR head of a byte string of `length` bytes, in its shortest form (canonical). */
function bytesHead(length: number): Uint8Array {
  if (length < 24) return new Uint8Array([0x40 + length])
  if (length < 0x100) return new Uint8Array([0x58, length])
  if (length < 0x10000) return new Uint8Array([0x59, length >> 8, length & 0xff])
  return new Uint8Array([0x5a, length >>> 24, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff])
}

/**
 * A chunk message's canonical encoding in three parts, the chunk's bytes in the middle as they
 * are: what `encodeChunkMessage` gives, byte for byte, without copying 256 KiB twice (cborg
 * copies the data into its output, and its Buffer output was copied again). The parts are sent
 * as one frame.
 */
export function encodeChunkDataParts(
  manifest: CID,
  chunk: number,
  data: Uint8Array,
  limits = DEFAULT_CHUNK_MESSAGE_LIMITS,
): readonly [Uint8Array, Uint8Array, Uint8Array] {
  const template = encodeCbor({ type: 'chunk', manifest, chunk, data: EMPTY })
  assert(
    startsWith(template, CHUNK_DATA_KEY) && template[CHUNK_DATA_KEY.length] === 0x40,
    'a chunk message opens with its data',
  )
  const head = bytesHead(data.byteLength)
  const prefix = new Uint8Array(CHUNK_DATA_KEY.length + head.byteLength)
  prefix.set(CHUNK_DATA_KEY)
  prefix.set(head, CHUNK_DATA_KEY.length)
  const suffix = template.subarray(CHUNK_DATA_KEY.length + 1)
  assert(
    prefix.byteLength + data.byteLength + suffix.byteLength <= messageBytesMax('chunk', limits),
    'an outgoing chunk message within its limit',
  )
  return [prefix, data, suffix]
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.byteLength < prefix.byteLength) return false
  for (let i = 0; i < prefix.byteLength; i++) if (bytes[i] !== prefix[i]) return false
  return true
}

/**
 * A chunk message in the layout `encodeChunkDataParts` writes, split without copying the data:
 * the data as a view into the frame, and the other three fields as a map of their own. Anything
 * else (another type, a longer-than-shortest length head) is left to the general decoder.
 */
function splitChunkData(encoded: Uint8Array): { data: Uint8Array; rest: Uint8Array } | undefined {
  if (!startsWith(encoded, CHUNK_DATA_KEY)) return undefined
  const at = CHUNK_DATA_KEY.length
  const initial = encoded[at]
  if (initial === undefined) return undefined
  let length: number
  let headBytes: number
  if (initial >= 0x40 && initial < 0x58) {
    length = initial - 0x40
    headBytes = 1
  } else if (initial === 0x58 && encoded.byteLength > at + 1) {
    length = encoded[at + 1]!
    headBytes = 2
  } else if (initial === 0x59 && encoded.byteLength > at + 2) {
    length = (encoded[at + 1]! << 8) | encoded[at + 2]!
    headBytes = 3
  } else if (initial === 0x5a && encoded.byteLength > at + 4) {
    length =
      ((encoded[at + 1]! << 24) | (encoded[at + 2]! << 16) | (encoded[at + 3]! << 8) | encoded[at + 4]!) >>> 0
    headBytes = 5
  } else {
    return undefined
  }
  if (bytesHead(length).byteLength !== headBytes) return undefined
  const start = at + headBytes
  const end = start + length
  if (end > encoded.byteLength) return undefined
  const suffix = encoded.subarray(end)
  // The remaining three entries, as a map of three: a few dozen bytes, copied.
  const rest = new Uint8Array(1 + suffix.byteLength)
  rest[0] = 0xa3
  rest.set(suffix, 1)
  return { data: encoded.subarray(start, end), rest }
}

/**
 * Decodes a message from a peer: the length is checked before parsing (CHUNK_MESSAGE_BYTES_MAX
 * for any frame, CHUNK_CONTROL_MESSAGE_BYTES_MAX for anything but a chunk), then the shape and
 * every bound. An unknown type is `unknown-type`, so a node can tell a newer peer from garbage.
 * Chunk indices are checked against the protocol's limit here, and against the manifest by the
 * scheduler and the store.
 */
export function decodeChunkMessage(
  encoded: Uint8Array,
  limits: ChunkMessageLimits = DEFAULT_CHUNK_MESSAGE_LIMITS,
): Result<ChunkMessage, DecodeError> {
  const frameMax =
    limits === DEFAULT_CHUNK_MESSAGE_LIMITS
      ? Math.max(CHUNK_MESSAGE_BYTES_MAX, MANIFEST_BYTES_MAX + 1024)
      : Math.max(limits.chunkBytesMax, MANIFEST_BYTES_MAX) + 1024
  if (encoded.byteLength > frameMax) {
    return err(decodeError('too-large', '', `${encoded.byteLength} bytes is over the limit of ${frameMax}`))
  }
  // Chunk messages (nearly every byte this protocol carries) keep their data as a view into the
  // frame: the general decoder copies it out.
  const split = splitChunkData(encoded)
  let raw: Result<unknown, DecodeError>
  if (split) {
    raw = decodeCbor(split.rest, CHUNK_CONTROL_MESSAGE_BYTES_MAX)
    if (raw.ok) {
      const fields = raw.value as Record<string, unknown>
      if (typeof fields !== 'object' || fields === null || Array.isArray(fields) || 'data' in fields) {
        return err(decodeError('malformed', '', 'a chunk message with its data twice or not a map'))
      }
      fields.data = split.data
    }
  } else {
    raw = decodeCbor(encoded, frameMax)
  }
  if (!raw.ok) return raw
  const schema = limits === DEFAULT_CHUNK_MESSAGE_LIMITS ? defaultSchema : schemaFor(limits)
  const decoded = schema(raw.value, '')
  if (!decoded.ok) return decoded
  const msg = decoded.value as ChunkMessage
  if (encoded.byteLength > messageBytesMax(msg.type, limits)) {
    return err(decodeError('too-large', '', `a ${msg.type} message of ${encoded.byteLength} bytes`))
  }
  return ok(msg)
}
