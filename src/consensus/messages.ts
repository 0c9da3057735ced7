import { bytesEqual } from '../codec/bytes.js'
import { type DecodeError, decodeCbor, decodeError, encodeCbor, nestDecodeError } from '../codec/cbor.js'
import { type CID, cidToString } from '../codec/cid.js'
import { err, ok, type Result } from '../codec/result.js'
import { array, bytes, cid, literal, nullable, struct, tagged, uint } from '../codec/schema.js'
import {
  BLOCK_BYTES_MAX,
  BLOCK_TXS_MAX,
  CONSENSUS_MESSAGE_BYTES_MAX,
  SYNC_BLOCKS_MAX,
  SYNC_RESPONSE_BYTES_MAX,
  TX_BYTES_MAX,
  VALIDATORS_MAX,
} from '../constants.js'
import { SIGNATURE_BYTES } from '../crypto/ed25519.js'
import { type Block, blockHeader, decodeBlock, hashHeader } from '../ledger/block.js'
import { type Certificate, certificate, commitMessage } from '../ledger/certificate.js'
import { decodeTx, type SignedTx } from '../ledger/tx.js'

/**
 * The wire messages of consensus (DESIGN.md §4, §7), one discriminated union on `type`, and
 * their codec. Where each travels:
 *
 * - `pre-prepare`, `prepare`, `commit`, `view-change`, `new-view`, `status`: validator to
 *   validator on `/fwmesh/<chain>/pbft/1`.
 * - `sync-request` / `sync-response`: any node to any node on `/fwmesh/<chain>/sync/1`.
 * - `tx`: gossip topic `fwmesh/<chain>/tx` (and validator to validator, to reach the primary).
 * - `block`: gossip topic `fwmesh/<chain>/block`, a committed block with its certificate.
 *
 * Signatures: commit votes are exactly `signCommit` signatures (domain `commit`), so 2f+1 of
 * one view are the block's certificate. Everything else is signed under domain `consensus`
 * over a statement that names its kind and the chain. A pre-prepare's signature is the
 * primary's prepare vote. Type tags are never reused once retired.
 */

/** A validator's signature on a statement, as it appears inside proofs. */
export interface Vote {
  readonly validator: number
  readonly sig: Uint8Array
}

export interface PrePrepare {
  readonly type: 'pre-prepare'
  readonly view: number
  readonly height: number
  /** The primary of `view`. */
  readonly validator: number
  readonly block: Block
  /** The primary's signature on `prepareStatement(chain, height, view, block.hash)`. */
  readonly sig: Uint8Array
}

export interface Prepare {
  readonly type: 'prepare'
  readonly view: number
  readonly height: number
  readonly block: CID
  readonly validator: number
  readonly sig: Uint8Array
}

export interface Commit {
  readonly type: 'commit'
  readonly view: number
  readonly height: number
  readonly block: CID
  readonly validator: number
  /** `signCommit(secretKey, chain, height, view, block)`: a certificate vote. */
  readonly sig: Uint8Array
}

/** A validator's committed head with the certificate that proves it. */
export interface HeadProof {
  readonly height: number
  readonly block: CID
  readonly cert: Certificate
}

/** 2f+1 prepare votes on one block at one height and view: the block may have committed. */
export interface PreparedProof {
  readonly height: number
  readonly view: number
  readonly block: CID
  readonly votes: readonly Vote[]
}

export interface ViewChange {
  readonly type: 'view-change'
  /** The view the sender wants to move to. */
  readonly view: number
  readonly validator: number
  /** The sender's committed head; null at genesis. */
  readonly head: HeadProof | null
  /** The sender's highest prepared block at head + 1, if any. */
  readonly prepared: PreparedProof | null
  /** Signature on `viewChangeStatement`; the proofs inside verify on their own. */
  readonly sig: Uint8Array
  /**
   * The prepared block itself, so the new primary can propose it again. Not signed (its hash
   * is); stripped when the view change travels inside a NEW-VIEW.
   */
  readonly preparedBlock?: Block
}

export interface NewView {
  readonly type: 'new-view'
  readonly view: number
  /** The primary of `view`. */
  readonly validator: number
  /** 2f+1 view changes to `view` from distinct validators; each replica recomputes the outcome. */
  readonly viewChanges: readonly ViewChange[]
  readonly sig: Uint8Array
}

export interface TxMessage {
  readonly type: 'tx'
  readonly tx: SignedTx
}

/** An unsigned hint: "my committed head is at `height`". Never trusted, only a reason to sync. */
export interface Status {
  readonly type: 'status'
  readonly height: number
  readonly view: number
}

export interface SyncRequest {
  readonly type: 'sync-request'
  /** The first height wanted. */
  readonly height: number
  /** At most this many blocks (the responder applies its own limit too). */
  readonly count: number
}

export interface CertifiedBlock {
  readonly block: Block
  readonly cert: Certificate
}

export interface SyncResponse {
  readonly type: 'sync-response'
  /** Consecutive committed blocks from the requested height; empty when the responder has none. */
  readonly blocks: readonly CertifiedBlock[]
}

/** A committed block as gossip carries it. */
export interface BlockAnnouncement {
  readonly type: 'block'
  readonly block: Block
  readonly cert: Certificate
}

export type Msg =
  | PrePrepare
  | Prepare
  | Commit
  | ViewChange
  | NewView
  | TxMessage
  | Status
  | SyncRequest
  | SyncResponse
  | BlockAnnouncement

export type MsgType = Msg['type']

// ---- Signed statements ----

/** The bytes of a prepare vote (and of a pre-prepare, the primary's prepare). */
export function prepareStatement(chain: string, height: number, view: number, block: CID): Uint8Array {
  return encodeCbor({ kind: 'prepare', chain, height, view, block })
}

export function viewChangeStatement(
  chain: string,
  vc: Pick<ViewChange, 'view' | 'validator' | 'head' | 'prepared'>,
): Uint8Array {
  return encodeCbor({
    kind: 'view-change',
    chain,
    view: vc.view,
    validator: vc.validator,
    head: vc.head ? { height: vc.head.height, block: vc.head.block } : null,
    prepared: vc.prepared
      ? { height: vc.prepared.height, view: vc.prepared.view, block: vc.prepared.block }
      : null,
  })
}

/** A NEW-VIEW signs its view and the exact set of view changes it carries (by their signatures). */
export function newViewStatement(chain: string, nv: Pick<NewView, 'view' | 'validator' | 'viewChanges'>) {
  return encodeCbor({
    kind: 'new-view',
    chain,
    view: nv.view,
    validator: nv.validator,
    viewChanges: nv.viewChanges.map((vc) => vc.sig),
  })
}

export { commitMessage }

// ---- Codec ----

/** Limits of the codec; the defaults come from `src/constants.ts`. */
export interface CodecLimits {
  readonly messageBytesMax: number
  readonly syncResponseBytesMax: number
  readonly syncBlocksMax: number
  readonly blockBytesMax: number
  readonly txBytesMax: number
}

export const DEFAULT_CODEC_LIMITS: CodecLimits = {
  messageBytesMax: CONSENSUS_MESSAGE_BYTES_MAX,
  syncResponseBytesMax: SYNC_RESPONSE_BYTES_MAX,
  syncBlocksMax: SYNC_BLOCKS_MAX,
  blockBytesMax: BLOCK_BYTES_MAX,
  txBytesMax: TX_BYTES_MAX,
}

const validatorIndex = uint(VALIDATORS_MAX - 1)
const signature = bytes(SIGNATURE_BYTES)
const vote = struct({ validator: validatorIndex, sig: signature })
const blockBytes = bytes({ max: BLOCK_BYTES_MAX })
const headProof = struct({ height: uint(Number.MAX_SAFE_INTEGER, 1), block: cid, cert: certificate })
const preparedProof = struct({
  height: uint(Number.MAX_SAFE_INTEGER, 1),
  view: uint(),
  block: cid,
  votes: array(vote, VALIDATORS_MAX, 1),
})
const viewChangeFields = {
  type: literal('view-change'),
  view: uint(Number.MAX_SAFE_INTEGER, 1),
  validator: validatorIndex,
  head: nullable(headProof),
  prepared: nullable(preparedProof),
  sig: signature,
}
const viewChangeWire = struct(viewChangeFields, { preparedBlock: blockBytes })
const viewChangeInNewView = struct(viewChangeFields)
const certifiedBlockWire = struct({ block: blockBytes, cert: certificate })

const wire = tagged({
  'pre-prepare': struct({
    type: literal('pre-prepare'),
    view: uint(),
    height: uint(Number.MAX_SAFE_INTEGER, 1),
    validator: validatorIndex,
    block: blockBytes,
    sig: signature,
  }),
  prepare: struct({
    type: literal('prepare'),
    view: uint(),
    height: uint(Number.MAX_SAFE_INTEGER, 1),
    block: cid,
    validator: validatorIndex,
    sig: signature,
  }),
  commit: struct({
    type: literal('commit'),
    view: uint(),
    height: uint(Number.MAX_SAFE_INTEGER, 1),
    block: cid,
    validator: validatorIndex,
    sig: signature,
  }),
  'view-change': viewChangeWire,
  'new-view': struct({
    type: literal('new-view'),
    view: uint(Number.MAX_SAFE_INTEGER, 1),
    validator: validatorIndex,
    viewChanges: array(viewChangeInNewView, VALIDATORS_MAX, 1),
    sig: signature,
  }),
  tx: struct({ type: literal('tx'), tx: bytes({ max: TX_BYTES_MAX + 96 }) }),
  status: struct({ type: literal('status'), height: uint(), view: uint() }),
  'sync-request': struct({
    type: literal('sync-request'),
    height: uint(Number.MAX_SAFE_INTEGER, 1),
    count: uint(SYNC_BLOCKS_MAX, 1),
  }),
  'sync-response': struct({
    type: literal('sync-response'),
    blocks: array(certifiedBlockWire, SYNC_BLOCKS_MAX),
  }),
  block: struct({ type: literal('block'), block: blockBytes, cert: certificate }),
})

function viewChangeToWire(vc: ViewChange, withBlock: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: 'view-change',
    view: vc.view,
    validator: vc.validator,
    head: vc.head,
    prepared: vc.prepared
      ? {
          height: vc.prepared.height,
          view: vc.prepared.view,
          block: vc.prepared.block,
          votes: vc.prepared.votes,
        }
      : null,
    sig: vc.sig,
  }
  if (withBlock && vc.preparedBlock) out.preparedBlock = vc.preparedBlock.bytes
  return out
}

function toWire(msg: Msg): Record<string, unknown> {
  switch (msg.type) {
    case 'pre-prepare':
      return { ...msg, block: msg.block.bytes }
    case 'prepare':
    case 'commit':
    case 'status':
    case 'sync-request':
      return { ...msg }
    case 'view-change':
      return viewChangeToWire(msg, true)
    case 'new-view':
      return { ...msg, viewChanges: msg.viewChanges.map((vc) => viewChangeToWire(vc, false)) }
    case 'tx':
      return { type: 'tx', tx: msg.tx.bytes }
    case 'sync-response':
      return {
        type: 'sync-response',
        blocks: msg.blocks.map((b) => ({ block: b.block.bytes, cert: b.cert })),
      }
    case 'block':
      return { type: 'block', block: msg.block.bytes, cert: msg.cert }
  }
}

/** Encodes a message as canonical DAG-CBOR. */
export function encode(msg: Msg): Uint8Array {
  return encodeCbor(toWire(msg))
}

function byteLimitOf(type: unknown, limits: CodecLimits): number {
  return type === 'sync-response' ? limits.syncResponseBytesMax : limits.messageBytesMax
}

/** Options of `decode`. */
export interface DecodeOptions {
  /**
   * Transactions the receiver already holds, looked up by envelope bytes (a replica's
   * `knownTx`). A block's or a relayed transaction whose bytes equal a known one's is not
   * decoded again: decoding is most of the cost of receiving a proposal, and backups already
   * hold its transactions. A candidate is used only when its bytes are identical.
   */
  readonly knownTx?: (envelope: Uint8Array) => SignedTx | undefined
}

const blockWire = struct({
  header: blockHeader,
  txs: array(bytes({ max: TX_BYTES_MAX + 96 }), BLOCK_TXS_MAX),
})

/** `decodeBlock`, reusing transactions the receiver already decoded (same checks otherwise). */
function decodeBlockReusing(
  input: Uint8Array,
  limits: CodecLimits,
  knownTx: (envelope: Uint8Array) => SignedTx | undefined,
): Result<Block, DecodeError> {
  const raw = decodeCbor(input, limits.blockBytesMax, { canonical: true })
  if (!raw.ok) return raw
  const shape = blockWire(raw.value, '')
  if (!shape.ok) return shape
  const txs: SignedTx[] = []
  for (const [i, txBytes] of shape.value.txs.entries()) {
    const known = knownTx(txBytes)
    if (known && bytesEqual(known.bytes, txBytes)) {
      txs.push(known)
      continue
    }
    const tx = decodeTx(txBytes)
    if (!tx.ok) return err(nestDecodeError(`txs[${i}]`, tx.error))
    txs.push(tx.value)
  }
  const header = shape.value.header
  const hash = hashHeader(header)
  return ok({ header, txs, hash, hashString: cidToString(hash), bytes: input })
}

function decodeBlockAt(
  blockBytesIn: Uint8Array,
  path: string,
  limits: CodecLimits,
  options: DecodeOptions,
): Result<Block, DecodeError> {
  const block = options.knownTx
    ? decodeBlockReusing(blockBytesIn, limits, options.knownTx)
    : decodeBlock(blockBytesIn, limits.blockBytesMax)
  return block.ok ? block : err(nestDecodeError(path, block.error))
}

/**
 * Decodes a message from a peer: the size is checked before parsing, every field is typed
 * and bounded, blocks and transactions are decoded in full. Signatures are not checked here:
 * the core does, with the validator set. Never throws.
 */
export function decode(
  input: Uint8Array,
  limits: CodecLimits = DEFAULT_CODEC_LIMITS,
  options: DecodeOptions = {},
): Result<Msg, DecodeError> {
  const overall = Math.max(limits.messageBytesMax, limits.syncResponseBytesMax)
  const raw = decodeCbor(input, overall)
  if (!raw.ok) return raw
  const typeField = (raw.value as { type?: unknown } | null)?.type
  const limit = byteLimitOf(typeField, limits)
  if (input.byteLength > limit) {
    return err(decodeError('too-large', '', `${input.byteLength} bytes is over the limit of ${limit}`))
  }
  const shaped = wire(raw.value, '')
  if (!shaped.ok) return shaped
  const m = shaped.value
  switch (m.type) {
    case 'pre-prepare': {
      const block = decodeBlockAt(m.block, 'block', limits, options)
      if (!block.ok) return block
      return ok({ ...m, block: block.value })
    }
    case 'prepare':
    case 'commit':
    case 'status':
      return ok(m)
    case 'sync-request':
      return ok(m)
    case 'view-change': {
      const { preparedBlock, ...rest } = m
      if (preparedBlock === undefined) return ok(rest)
      const block = decodeBlockAt(preparedBlock, 'preparedBlock', limits, options)
      if (!block.ok) return block
      return ok({ ...rest, preparedBlock: block.value })
    }
    case 'new-view':
      return ok(m)
    case 'tx': {
      // A backup relays what the primary usually holds already.
      const known = options.knownTx?.(m.tx)
      if (known && bytesEqual(known.bytes, m.tx)) return ok({ type: 'tx', tx: known })
      const tx = decodeTx(m.tx, limits.txBytesMax)
      if (!tx.ok) return err(nestDecodeError('tx', tx.error))
      return ok({ type: 'tx', tx: tx.value })
    }
    case 'sync-response': {
      if (m.blocks.length > limits.syncBlocksMax) {
        return err(
          decodeError('out-of-range', 'blocks', `${m.blocks.length} blocks, over ${limits.syncBlocksMax}`),
        )
      }
      const blocks: CertifiedBlock[] = []
      for (const [i, b] of m.blocks.entries()) {
        const block = decodeBlockAt(b.block, `blocks[${i}].block`, limits, options)
        if (!block.ok) return block
        blocks.push({ block: block.value, cert: b.cert })
      }
      return ok({ type: 'sync-response', blocks })
    }
    case 'block': {
      const block = decodeBlockAt(m.block, 'block', limits, options)
      if (!block.ok) return block
      return ok({ type: 'block', block: block.value, cert: m.cert })
    }
  }
}
