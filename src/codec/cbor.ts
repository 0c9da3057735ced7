import * as dagCbor from '@ipld/dag-cbor'
import { bytesEqual } from './bytes.js'
import { err, ok, type Result } from './result.js'

/** Why a byte string is not an acceptable encoding. One code per kind of fault. */
export type DecodeErrorCode =
  | 'too-large'
  | 'malformed'
  | 'non-canonical'
  | 'unknown-type'
  | 'missing-field'
  | 'extra-field'
  | 'wrong-type'
  | 'out-of-range'

export interface DecodeError {
  readonly code: DecodeErrorCode
  /** Where in the value the fault is, like `body.hardware[2]`; empty at the top. */
  readonly path: string
  /** The fault without its path. */
  readonly reason: string
  /** The path and the reason, for people. */
  readonly message: string
}

export function decodeError(code: DecodeErrorCode, path: string, message: string): DecodeError {
  return { code, path, reason: message, message: path ? `${path}: ${message}` : message }
}

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

/**
 * Decodes DAG-CBOR after checking the length, so an oversized input is refused before any
 * allocation. With `canonical`, the bytes must be exactly what `encodeCbor` would produce:
 * wherever an id is the hash of bytes, two encodings of one value must not both be valid.
 */
export function decodeCbor(
  bytes: Uint8Array,
  maxBytes: number,
  options: { canonical?: boolean } = {},
): Result<unknown, DecodeError> {
  if (bytes.byteLength > maxBytes) {
    return err(decodeError('too-large', '', `${bytes.byteLength} bytes is over the limit of ${maxBytes}`))
  }
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

/** The same fault, seen from an enclosing value at `prefix`. */
export function nestDecodeError(prefix: string, error: DecodeError): DecodeError {
  const path = error.path ? `${prefix}.${error.path}` : prefix
  return decodeError(error.code, path, error.reason)
}
