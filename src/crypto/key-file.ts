/**
 * The key file format: a small JSON document holding an ed25519 seed, its public key and its
 * did, so a file that was edited or mixed up is caught on load. Pure: the node reads and writes
 * key files (mode 0600, through a temporary file and a rename) in src/node/store/key-files.ts.
 */
import { bytesEqual, fromHex, toHex } from '../codec/bytes.js'
import { err, ok, type Result } from '../codec/result.js'
import { didFromPublicKey } from './did.js'
import { type KeyPair, keyPairFromSeed } from './ed25519.js'

export const KEY_FILE_KIND = 'fwmesh-ed25519-key'
export const KEY_FILE_VERSION = 1

export interface KeyFile {
  readonly kind: typeof KEY_FILE_KIND
  readonly version: typeof KEY_FILE_VERSION
  readonly did: string
  readonly publicKey: string
  readonly secretKey: string
}

export type KeyFileErrorCode = 'not-found' | 'unreadable' | 'too-open' | 'malformed' | 'mismatch' | 'exists'
export interface KeyFileError {
  readonly code: KeyFileErrorCode
  readonly message: string
}

export function keyFileError(code: KeyFileErrorCode, message: string): { ok: false; error: KeyFileError } {
  return err({ code, message })
}

/** The text of a key file for a key pair. */
export function encodeKeyFile(keys: KeyPair): string {
  const doc: KeyFile = {
    kind: KEY_FILE_KIND,
    version: KEY_FILE_VERSION,
    did: didFromPublicKey(keys.publicKey),
    publicKey: toHex(keys.publicKey),
    secretKey: toHex(keys.secretKey),
  }
  return `${JSON.stringify(doc, null, 2)}\n`
}

/** Parses the JSON of a key file; `source` names it in error messages. */
export function parseKeyFile(text: string, source: string): Result<KeyPair, KeyFileError> {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    return keyFileError('malformed', `${source} is not JSON`)
  }
  const d = doc as Partial<KeyFile>
  if (typeof doc !== 'object' || doc === null || d.kind !== KEY_FILE_KIND || d.version !== KEY_FILE_VERSION) {
    return keyFileError('malformed', `${source} is not an fwmesh key file (kind ${KEY_FILE_KIND}, version 1)`)
  }
  const seed = typeof d.secretKey === 'string' ? fromHex(d.secretKey) : undefined
  if (seed?.byteLength !== 32) return keyFileError('malformed', `${source}: secretKey must be 64 hex digits`)
  const keys = keyPairFromSeed(seed)
  const claimed = typeof d.publicKey === 'string' ? fromHex(d.publicKey) : undefined
  if (!claimed || !bytesEqual(claimed, keys.publicKey) || d.did !== didFromPublicKey(keys.publicKey)) {
    return keyFileError('mismatch', `${source}: the public key or did does not belong to the secret key`)
  }
  return ok(keys)
}
