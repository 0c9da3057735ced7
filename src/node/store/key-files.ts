/**
 * Key files on disk: written with mode 0600 through a temporary file and a rename, so a crash
 * never leaves half a key; refused on load when the group or others may read them, like ssh
 * does with private keys. The format is pure and lives in src/crypto/key-file.ts.
 */
import { open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { ok, type Result } from '../../codec/result.js'
import { KEY_FILE_BYTES_MAX } from '../../constants.js'
import type { KeyPair } from '../../crypto/ed25519.js'
import { encodeKeyFile, type KeyFileError, keyFileError, parseKeyFile } from '../../crypto/key-file.js'

/** Writes a new key file; refuses to overwrite an existing one (a lost key cannot be recovered). */
export async function writeKeyFile(path: string, keys: KeyPair): Promise<Result<void, KeyFileError>> {
  const text = encodeKeyFile(keys)
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
      await handle.writeFile(text)
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
