import * as dagCbor from '@ipld/dag-cbor'
import { CBOR_DEPTH_MAX, CBOR_ITEMS_MAX } from '../constants.js'
import { bytesEqual } from './bytes.js'
import { type DecodeError, decodeError } from './cbor-error.js'
import { cborShapeFault } from './cbor-shape.js'
import { err, ok, type Result } from './result.js'

export * from './cbor-error.js'

/**
 * Canonical DAG-CBOR: map keys sorted, minimal integers, no floats where ints fit. The bytes
 * are their own: for encodings of ~130 bytes to 4 KiB, cborg returns a view into a Buffer from
 * Node's shared 8 KiB pool (a 246-byte install report kept 8,192 bytes alive), so such a view
 * is copied out. Encodings are kept for long (transactions in mempools and blocks, agent state).
 */
export function encodeCbor(value: unknown): Uint8Array {
  const bytes = dagCbor.encode(value)
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && !Buffer.isBuffer(bytes))
    return bytes
  return new Uint8Array(bytes)
}

/** Options of `decodeCbor`. */
export interface DecodeCborOptions {
  /** The bytes must be exactly what `encodeCbor` would produce. */
  readonly canonical?: boolean
  /** Containers open at once (CBOR_DEPTH_MAX unless a decoder needs fewer). */
  readonly depthMax?: number
  /** Data items in all, map keys included (CBOR_ITEMS_MAX unless a decoder needs fewer). */
  readonly itemsMax?: number
}

/**
 * Decodes DAG-CBOR after checking the length, the nesting depth, the number of items and every
 * declared length (`cborShapeFault`), so oversized or hostile input is refused before any value
 * is built. With `canonical`, the bytes must be exactly what `encodeCbor` would produce:
 * wherever an id is the hash of bytes, two encodings of one value must not both be valid.
 * Never throws: every fault is a typed `DecodeError`.
 */
export function decodeCbor(
  bytes: Uint8Array,
  maxBytes: number,
  options: DecodeCborOptions = {},
): Result<unknown, DecodeError> {
  if (bytes.byteLength > maxBytes) {
    return err(decodeError('too-large', '', `${bytes.byteLength} bytes is over the limit of ${maxBytes}`))
  }
  const fault = cborShapeFault(bytes, {
    depthMax: options.depthMax ?? CBOR_DEPTH_MAX,
    itemsMax: options.itemsMax ?? CBOR_ITEMS_MAX,
  })
  if (fault) return err(fault)
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause)
    return err(decodeError('malformed', '', `not valid DAG-CBOR (${why})`))
  }
  if (options.canonical === true && !bytesEqual(dagCbor.encode(value), bytes)) {
    return err(decodeError('non-canonical', '', 'not in canonical DAG-CBOR form'))
  }
  return ok(value)
}
