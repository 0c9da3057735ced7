/**
 * The chunk store's record of which chunks it holds, as bytes: a magic, a version, the
 * manifest's CID (so a record is never applied to another image), the chunk count, the bitfield
 * (bitfield.ts layout) and a SHA-256 of all of that. The store replaces the file atomically
 * (write, fdatasync, rename, fsync of the directory); the checksum catches anything else.
 *
 * Pure: chunk-store.ts does the file work.
 */
import { bytesEqual } from '../codec/bytes.js'
import { sha256 } from '../codec/hash.js'
import { err, ok, type Result } from '../codec/result.js'
import { HELD_STATE_BYTES_MAX } from '../constants.js'
import { bitfieldBytes, checkBitfield } from './bitfield.js'

const MAGIC = new Uint8Array([0x46, 0x57, 0x4d, 0x48, 0x45, 0x4c, 0x44, 0x0a]) // "FWMHELD\n"
const VERSION = 1
const CHECKSUM_BYTES = 32
/** A CID's bytes are length-prefixed with a u16; CIDv1 sha2-256 takes 36. */
const CID_BYTES_MAX = 128

export type HeldStateError =
  | { readonly code: 'too-large'; readonly message: string }
  | { readonly code: 'corrupt'; readonly message: string }
  | { readonly code: 'other-image'; readonly message: string }

export function encodeHeldState(
  manifestCid: Uint8Array,
  chunkCount: number,
  bitfield: Uint8Array,
): Uint8Array {
  const head = MAGIC.byteLength + 1 + 2 + manifestCid.byteLength + 4
  const out = new Uint8Array(head + bitfield.byteLength + CHECKSUM_BYTES)
  const view = new DataView(out.buffer)
  out.set(MAGIC, 0)
  let at = MAGIC.byteLength
  out[at++] = VERSION
  view.setUint16(at, manifestCid.byteLength)
  at += 2
  out.set(manifestCid, at)
  at += manifestCid.byteLength
  view.setUint32(at, chunkCount)
  at += 4
  out.set(bitfield, at)
  at += bitfield.byteLength
  out.set(sha256(out.subarray(0, at)), at)
  return out
}

/**
 * Reads a held-state record for the given image. Anything unexpected is `corrupt` (the store
 * then re-verifies the image file instead of trusting it); a record of another manifest is
 * `other-image`.
 */
export function decodeHeldState(
  bytes: Uint8Array,
  manifestCid: Uint8Array,
  chunkCount: number,
): Result<Uint8Array, HeldStateError> {
  if (bytes.byteLength > HELD_STATE_BYTES_MAX) {
    return err({ code: 'too-large', message: `${bytes.byteLength} bytes, over ${HELD_STATE_BYTES_MAX}` })
  }
  const corrupt = (message: string) => err({ code: 'corrupt' as const, message })
  const fixed = MAGIC.byteLength + 1 + 2
  if (bytes.byteLength < fixed + 4 + CHECKSUM_BYTES) return corrupt('too short')
  const body = bytes.subarray(0, bytes.byteLength - CHECKSUM_BYTES)
  if (!bytesEqual(sha256(body), bytes.subarray(body.byteLength))) return corrupt('checksum mismatch')
  if (!bytesEqual(bytes.subarray(0, MAGIC.byteLength), MAGIC)) return corrupt('not a held-state file')
  if (bytes[MAGIC.byteLength] !== VERSION) return corrupt(`version ${bytes[MAGIC.byteLength]}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const cidLength = view.getUint16(MAGIC.byteLength + 1)
  if (cidLength > CID_BYTES_MAX || fixed + cidLength + 4 > body.byteLength) return corrupt('bad CID length')
  const cid = bytes.subarray(fixed, fixed + cidLength)
  if (!bytesEqual(cid, manifestCid))
    return err({ code: 'other-image', message: 'the record is of another manifest' })
  const count = view.getUint32(fixed + cidLength)
  if (count !== chunkCount) return corrupt(`${count} chunks, expected ${chunkCount}`)
  const bitfield = body.subarray(fixed + cidLength + 4)
  if (bitfield.byteLength !== bitfieldBytes(chunkCount)) return corrupt('bitfield length')
  const checked = checkBitfield(bitfield, chunkCount)
  if (!checked.ok) return corrupt(checked.error.message)
  return ok(new Uint8Array(bitfield))
}
