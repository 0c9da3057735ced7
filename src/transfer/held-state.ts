/**
 * The chunk store's record of which chunks it holds, as bytes. The file has two slots of equal
 * size, written in turn; each slot holds a magic, a version, a generation number, the
 * manifest's CID (so a record is never applied to another image), the chunk count, the bitfield
 * (bitfield.ts layout) and a SHA-256 of all of that. A write goes to the slot of the older
 * generation and is made durable with one fdatasync, so a write torn by a crash or a power cut
 * spoils only that slot: the other still holds the previous record. When neither slot is valid
 * the store re-verifies the image file instead of trusting anything.
 *
 * Pure: the node's file chunk store (src/node/store/file-chunk-store.ts) does the file work.
 */
import { bytesEqual } from '../codec/bytes.js'
import { sha256 } from '../codec/hash.js'
import { err, ok, type Result } from '../codec/result.js'
import { HELD_STATE_BYTES_MAX } from '../constants.js'
import { bitfieldBytes, checkBitfield } from './bitfield.js'

const MAGIC = new Uint8Array([0x46, 0x57, 0x4d, 0x48, 0x45, 0x4c, 0x44, 0x0a]) // "FWMHELD\n"
const VERSION = 2
const CHECKSUM_BYTES = 32
/** A CID's bytes are length-prefixed with a u16; CIDv1 sha2-256 takes 36. */
const CID_BYTES_MAX = 128
/** magic, version, generation (u32 × 2), CID length (u16). */
const FIXED_BYTES = MAGIC.byteLength + 1 + 8 + 2

export type HeldStateError =
  | { readonly code: 'too-large'; readonly message: string }
  | { readonly code: 'corrupt'; readonly message: string }
  | { readonly code: 'other-image'; readonly message: string }

export interface HeldState {
  readonly bitfield: Uint8Array
  /** Grows by one with every write; the slot with the larger one is the newer record. */
  readonly generation: number
}

/** The size of one slot for an image; the file is two of them. */
export function heldSlotBytes(manifestCid: Uint8Array, chunkCount: number): number {
  return FIXED_BYTES + manifestCid.byteLength + 4 + bitfieldBytes(chunkCount) + CHECKSUM_BYTES
}

/** One slot's bytes. */
export function encodeHeldSlot(
  manifestCid: Uint8Array,
  chunkCount: number,
  bitfield: Uint8Array,
  generation: number,
): Uint8Array {
  const out = new Uint8Array(heldSlotBytes(manifestCid, chunkCount))
  const view = new DataView(out.buffer)
  out.set(MAGIC, 0)
  let at = MAGIC.byteLength
  out[at++] = VERSION
  view.setUint32(at, Math.floor(generation / 2 ** 32))
  view.setUint32(at + 4, generation >>> 0)
  at += 8
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

/** A whole held-state file: both slots carrying the same record. */
export function encodeHeldState(
  manifestCid: Uint8Array,
  chunkCount: number,
  bitfield: Uint8Array,
): Uint8Array {
  const slot = encodeHeldSlot(manifestCid, chunkCount, bitfield, 0)
  const out = new Uint8Array(2 * slot.byteLength)
  out.set(slot, 0)
  out.set(slot, slot.byteLength)
  return out
}

function decodeSlot(
  slot: Uint8Array,
  manifestCid: Uint8Array,
  chunkCount: number,
): Result<HeldState, HeldStateError> {
  const corrupt = (message: string) => err({ code: 'corrupt' as const, message })
  if (slot.byteLength < FIXED_BYTES + 4 + CHECKSUM_BYTES) return corrupt('too short')
  const body = slot.subarray(0, slot.byteLength - CHECKSUM_BYTES)
  if (!bytesEqual(sha256(body), slot.subarray(body.byteLength))) return corrupt('checksum mismatch')
  if (!bytesEqual(slot.subarray(0, MAGIC.byteLength), MAGIC)) return corrupt('not a held-state file')
  if (slot[MAGIC.byteLength] !== VERSION) return corrupt(`version ${slot[MAGIC.byteLength]}`)
  const view = new DataView(slot.buffer, slot.byteOffset, slot.byteLength)
  const generation = view.getUint32(MAGIC.byteLength + 1) * 2 ** 32 + view.getUint32(MAGIC.byteLength + 5)
  const cidLength = view.getUint16(FIXED_BYTES - 2)
  if (cidLength > CID_BYTES_MAX || FIXED_BYTES + cidLength + 4 > body.byteLength)
    return corrupt('bad CID length')
  const cid = slot.subarray(FIXED_BYTES, FIXED_BYTES + cidLength)
  if (!bytesEqual(cid, manifestCid))
    return err({ code: 'other-image', message: 'the record is of another manifest' })
  const count = view.getUint32(FIXED_BYTES + cidLength)
  if (count !== chunkCount) return corrupt(`${count} chunks, expected ${chunkCount}`)
  const bitfield = body.subarray(FIXED_BYTES + cidLength + 4)
  if (bitfield.byteLength !== bitfieldBytes(chunkCount)) return corrupt('bitfield length')
  const checked = checkBitfield(bitfield, chunkCount)
  if (!checked.ok) return corrupt(checked.error.message)
  return ok({ bitfield: new Uint8Array(bitfield), generation })
}

/**
 * Reads a held-state file for the given image: the newer of its valid slots. With no valid
 * slot the error is that of the first slot: `corrupt` for damage, `other-image` for a record of
 * another manifest.
 */
export function decodeHeldState(
  bytes: Uint8Array,
  manifestCid: Uint8Array,
  chunkCount: number,
): Result<HeldState, HeldStateError> {
  if (bytes.byteLength > HELD_STATE_BYTES_MAX) {
    return err({ code: 'too-large', message: `${bytes.byteLength} bytes, over ${HELD_STATE_BYTES_MAX}` })
  }
  const slotBytes = heldSlotBytes(manifestCid, chunkCount)
  if (bytes.byteLength !== 2 * slotBytes) {
    return err({ code: 'corrupt', message: `${bytes.byteLength} bytes, expected ${2 * slotBytes}` })
  }
  const a = decodeSlot(bytes.subarray(0, slotBytes), manifestCid, chunkCount)
  const b = decodeSlot(bytes.subarray(slotBytes), manifestCid, chunkCount)
  if (a.ok && b.ok) return a.value.generation >= b.value.generation ? a : b
  if (a.ok) return a
  if (b.ok) return b
  return a
}
