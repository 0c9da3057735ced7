import { type DecodeError, decodeCbor, encodeCbor, nestDecodeError } from '../codec/cbor.js'
import type { CID } from '../codec/cid.js'
import { err, ok, type Result } from '../codec/result.js'
import { array, bool, bytes, cid, nullable, struct, text, uint } from '../codec/schema.js'
import { BLOCK_BYTES_MAX, VALIDATORS_MAX } from '../constants.js'
import { SIGNATURE_BYTES } from '../crypto/ed25519.js'
import { type Block, decodeBlock } from '../ledger/block.js'
import type { PreparedProof } from './messages.js'
import type { NewViewDecision } from './view-change.js'

/**
 * What a validator must remember across a crash so that it never contradicts itself: the
 * view it is in (or moving to), the last height and view it voted in with the block of each
 * vote, its highest prepared proof (which it must carry into view changes), the last view it
 * sent a NEW-VIEW for, and what the NEW-VIEW of its view requires. `SafetyRules`
 * (safety-rules.ts) owns it and checks every signature against it; the replica emits the whole
 * record in a `persist` output each time it changes, before any message that depends on it.
 */
export interface SafetyRecord {
  readonly view: number
  /** True while moving to `view` (a view change was sent, no NEW-VIEW accepted yet). */
  readonly changing: boolean
  /** The latest (height, view) this validator signed votes in, and for which block. */
  readonly signed: SignedVotes | null
  /** The highest prepared proof above the committed head, with its block. */
  readonly prepared: { readonly proof: PreparedProof; readonly block: Block } | null
  /** The last view this validator sent a NEW-VIEW for, as its primary; 0 for none. */
  readonly newViewSent: number
  /**
   * What the NEW-VIEW of the current view requires (the block to re-propose at its first
   * height): a validator restarted inside that view must still refuse anything else.
   */
  readonly decision: NewViewDecision | null
}

export interface SignedVotes {
  readonly height: number
  readonly view: number
  /** The block of the prepare (or pre-prepare) vote at (height, view), if one was signed. */
  readonly prepare: CID | null
  /** The block of the commit vote at (height, view), if one was signed. */
  readonly commit: CID | null
}

export const EMPTY_SAFETY_RECORD: SafetyRecord = {
  view: 0,
  changing: false,
  signed: null,
  prepared: null,
  newViewSent: 0,
  decision: null,
}

const recordShape = struct({
  view: uint(),
  changing: bool,
  signed: nullable(struct({ height: uint(), view: uint(), prepare: nullable(cid), commit: nullable(cid) })),
  prepared: nullable(
    struct({
      height: uint(),
      view: uint(),
      block: cid,
      votes: array(
        struct({ validator: uint(VALIDATORS_MAX - 1), sig: bytes(SIGNATURE_BYTES) }),
        VALIDATORS_MAX,
      ),
      blockBytes: bytes({ max: BLOCK_BYTES_MAX }),
    }),
  ),
  newViewSent: uint(),
  decision: nullable(
    struct({ view: uint(), height: uint(), block: nullable(text(128)), headFrom: uint(VALIDATORS_MAX - 1) }),
  ),
})

/** Canonical bytes of a safety record, for the driver's store. */
export function encodeSafetyRecord(record: SafetyRecord): Uint8Array {
  return encodeCbor({
    view: record.view,
    changing: record.changing,
    signed: record.signed,
    prepared: record.prepared
      ? {
          height: record.prepared.proof.height,
          view: record.prepared.proof.view,
          block: record.prepared.proof.block,
          votes: record.prepared.proof.votes,
          blockBytes: record.prepared.block.bytes,
        }
      : null,
    newViewSent: record.newViewSent,
    decision: record.decision,
  })
}

export function decodeSafetyRecord(input: Uint8Array): Result<SafetyRecord, DecodeError> {
  const raw = decodeCbor(input, BLOCK_BYTES_MAX + 64 * 1024)
  if (!raw.ok) return raw
  const r = recordShape(raw.value, '')
  if (!r.ok) return r
  const v = r.value
  let prepared: SafetyRecord['prepared'] = null
  if (v.prepared) {
    const block = decodeBlock(v.prepared.blockBytes)
    if (!block.ok) return err(nestDecodeError('prepared.blockBytes', block.error))
    const { blockBytes: _, ...proof } = v.prepared
    prepared = { proof, block: block.value }
  }
  return ok({
    view: v.view,
    changing: v.changing,
    signed: v.signed,
    prepared,
    newViewSent: v.newViewSent,
    decision: v.decision,
  })
}
