import { open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { bytesEqual, fromHex, toHex } from '../../codec/bytes.js'
import { err, ok, type Result } from '../../codec/result.js'
import { KEY_FILE_BYTES_MAX } from '../../constants.js'
import { didFromPublicKey } from '../../crypto/did.js'
import { type KeyPair, keyPairFromSeed } from '../../crypto/ed25519.js'

/**
 * Key files: small JSON documents holding an ed25519 seed. Written with mode 0600 through a
 * temporary file and a rename, so a crash never leaves half a key; refused on load when the
 * group or others may read them, like ssh does with private keys.
 */
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

function keyFileError(code: KeyFileErrorCode, message: string): { ok: false; error: KeyFileError } {
  return err({ code, message })
}

/** Writes a new key file; refuses to overwrite an existing one (a lost key cannot be recovered). */
export async function writeKeyFile(path: string, keys: KeyPair): Promise<Result<void, KeyFileError>> {
  const doc: KeyFile = {
    kind: KEY_FILE_KIND,
    version: KEY_FILE_VERSION,
    did: didFromPublicKey(keys.publicKey),
    publicKey: toHex(keys.publicKey),
    secretKey: toHex(keys.secretKey),
  }
  try {
    await stat(path)
    return keyFileError('exists', `${path} already exists; refusing to overwrite a key file`)
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
      return keyFileError('unreadable', `cannot check ${path}: ${(cause as Error).message}`)
    }
  }
  const temporary = `${path}.${process.pid}.tmp`
  try {
    const handle = await open(temporary, 'wx', 0o600)
    try {
      await handle.writeFile(`${JSON.stringify(doc, null, 2)}\n`)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temporary, path)
    return ok(undefined)
  } catch (cause) {
    await unlink(temporary).catch(() => {})
    return keyFileError('unreadable', `cannot write ${path}: ${(cause as Error).message}`)
  }
}

/** Loads a key file, checking its permissions, its form and that the public key matches. */
export async function readKeyFile(path: string): Promise<Result<KeyPair, KeyFileError>> {
  let mode: number
  try {
    mode = (await stat(path)).mode
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT')
      return keyFileError('not-found', `no key file at ${path}`)
    return keyFileError('unreadable', `cannot read ${path}: ${(cause as Error).message}`)
  }
  if ((mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8)
    return keyFileError(
      'too-open',
      `${path} is readable by other users (mode ${octal}); run \`chmod 600 ${path}\` and try again`,
    )
  }
  let text: string
  try {
    const raw = await readFile(path)
    if (raw.byteLength > KEY_FILE_BYTES_MAX)
      return keyFileError('malformed', `${path} is too large for a key file`)
    text = raw.toString('utf8')
  } catch (cause) {
    return keyFileError('unreadable', `cannot read ${path}: ${(cause as Error).message}`)
  }
  return parseKeyFile(text, path)
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
