import { concatBytes } from '../codec/bytes.js'
import { type DecodeError, decodeCbor, encodeCbor, nestDecodeError } from '../codec/cbor.js'
import { type CID, cidOfEncoded, cidToString } from '../codec/cid.js'
import { sha256 } from '../codec/hash.js'
import { err, ok, type Result } from '../codec/result.js'
import { array, bytes, cid, type Infer, nullable, struct, text, uint } from '../codec/schema.js'
import {
  BLOCK_BYTES_MAX,
  BLOCK_TXS_MAX,
  NAME_LENGTH_MAX,
  TX_BYTES_MAX,
  VALIDATORS_MAX,
} from '../constants.js'
import { decodeTx, type SignedTx } from './tx.js'

/**
 * A block: a header that commits to the previous block, to its transactions through a
 * Merkle root and to the ledger state after it (`stateRoot`, state-root.ts), and the
 * transactions themselves. Its hash is the CID of the header's canonical encoding;
 * certificates sign that hash, so 2f+1 validators vouch for the state root too.
 */
export const blockHeader = struct({
  chain: text(NAME_LENGTH_MAX, undefined, 1),
  height: uint(),
  /** The previous block's hash; null for height 1, whose parent is genesis. */
  prev: nullable(cid),
  /** Milliseconds since the epoch, chosen by the proposer; never earlier than the parent's. */
  time: uint(),
  /** Index of the proposing validator in genesis. */
  proposer: uint(VALIDATORS_MAX - 1),
  txRoot: bytes(32),
  txCount: uint(BLOCK_TXS_MAX),
  /** The root of the ledger state after this block's transactions (`LedgerState.stateRoot`). */
  stateRoot: bytes(32),
})
export type BlockHeader = Infer<typeof blockHeader>

export interface Block {
  readonly header: BlockHeader
  readonly txs: readonly SignedTx[]
  /** CID of the header's encoding. */
  readonly hash: CID
  readonly hashString: string
  /** The whole block, canonical DAG-CBOR: what the store keeps and peers send. */
  readonly bytes: Uint8Array
}

// Domain bytes keep a leaf from ever being taken for an inner node (second preimages).
const LEAF = Uint8Array.of(0)
const NODE = Uint8Array.of(1)

/** Merkle root over the transaction envelopes; an odd node is carried up unchanged. */
export function txRoot(txs: readonly SignedTx[]): Uint8Array {
  if (txs.length === 0) return sha256(new Uint8Array(0))
  let level = txs.map((tx) => sha256(concatBytes(LEAF, tx.bytes)))
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) {
      const right = level[i + 1]
      next.push(right ? sha256(concatBytes(NODE, level[i]!, right)) : level[i]!)
    }
    level = next
  }
  return level[0]!
}

export function hashHeader(header: BlockHeader): CID {
  return cidOfEncoded(encodeCbor(header))
}

/**
 * Builds a block over the given transactions. `fields.stateRoot` must be the root of the
 * state after them: `buildBlock` (verify-block.ts) computes it.
 */
export function makeBlock(fields: Omit<BlockHeader, 'txRoot' | 'txCount'>, txs: readonly SignedTx[]): Block {
  const header: BlockHeader = { ...fields, txRoot: txRoot(txs), txCount: txs.length }
  const hash = hashHeader(header)
  return {
    header,
    txs,
    hash,
    hashString: cidToString(hash),
    bytes: encodeCbor({ header, txs: txs.map((t) => t.bytes) }),
  }
}

const blockShape = struct({
  header: blockHeader,
  txs: array(bytes({ max: TX_BYTES_MAX + 96 }), BLOCK_TXS_MAX),
})

/**
 * Decodes a block, checking every limit and every transaction's form. It does not check the
 * Merkle root, the link or the certificate: `verifyBlock` does, with the chain's context.
 */
export function decodeBlock(
  bytesIn: Uint8Array,
  blockBytesMax: number = BLOCK_BYTES_MAX,
): Result<Block, DecodeError> {
  const raw = decodeCbor(bytesIn, blockBytesMax, { canonical: true })
  if (!raw.ok) return raw
  const shape = blockShape(raw.value, '')
  if (!shape.ok) return shape
  const txs: SignedTx[] = []
  for (const [i, txBytes] of shape.value.txs.entries()) {
    const tx = decodeTx(txBytes)
    if (!tx.ok) return err(nestDecodeError(`txs[${i}]`, tx.error))
    txs.push(tx.value)
  }
  const header = shape.value.header
  const hash = hashHeader(header)
  return ok({ header, txs, hash, hashString: cidToString(hash), bytes: bytesIn })
}
