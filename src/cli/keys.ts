import { fromHex } from '../codec/bytes.js'
import { publicKeyFromDid } from '../crypto/did.js'
import type { KeyPair } from '../crypto/ed25519.js'
import { readKeyFile } from '../node/store/key-files.js'
import { CliError } from './output.js'

/** Loads a key file for signing, or fails with one sentence. */
export async function loadSigningKey(path: string | undefined, what: string): Promise<KeyPair> {
  if (!path) throw new CliError(`${what} needs a key: pass --key <file> (made by \`fwmesh keygen\`)`)
  const read = await readKeyFile(path)
  if (!read.ok) throw new CliError(read.error.message)
  return read.value
}

/**
 * A public key given on the command line: a did:key, 64 hex digits, or the path of a key
 * file (its public half is used).
 */
export async function parsePublicKeyArg(value: string, what: string): Promise<Uint8Array> {
  if (value.startsWith('did:key:')) {
    const key = publicKeyFromDid(value)
    if (!key) throw new CliError(`${what}: "${value}" is not an ed25519 did:key`)
    return key
  }
  if (/^[0-9a-fA-F]{64}$/.test(value)) return fromHex(value)!
  const read = await readKeyFile(value)
  if (read.ok) return read.value.publicKey
  if (read.error.code === 'not-found') {
    throw new CliError(`${what}: "${value}" is neither a did:key, 64 hex digits, nor a key file`)
  }
  throw new CliError(`${what}: ${read.error.message}`)
}
