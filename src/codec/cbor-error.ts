/** Why a byte string is not an acceptable encoding. One code per kind of fault. */
export type DecodeErrorCode =
  | 'too-large'
  | 'too-deep'
  | 'malformed'
  | 'non-canonical'
  | 'unknown-type'
  | 'missing-field'
  | 'extra-field'
  | 'wrong-type'
  | 'out-of-range'

/** Every `DecodeErrorCode`, for code that checks a rejection it did not build (tests, fuzzing). */
export const DECODE_ERROR_CODES: readonly DecodeErrorCode[] = [
  'too-large',
  'too-deep',
  'malformed',
  'non-canonical',
  'unknown-type',
  'missing-field',
  'extra-field',
  'wrong-type',
  'out-of-range',
]

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

/** The same fault, seen from an enclosing value at `prefix`. */
export function nestDecodeError(prefix: string, error: DecodeError): DecodeError {
  const path = error.path ? `${prefix}.${error.path}` : prefix
  return decodeError(error.code, path, error.reason)
}
