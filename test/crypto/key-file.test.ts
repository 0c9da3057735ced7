import { describe, expect, it } from 'vitest'
import { didFromPublicKey } from '../../src/crypto/did.js'
import { keyPairFromSeed } from '../../src/crypto/ed25519.js'
import { encodeKeyFile, KEY_FILE_KIND, parseKeyFile } from '../../src/crypto/key-file.js'

const keys = keyPairFromSeed(new Uint8Array(32).fill(3))

describe('crypto: the key file format', () => {
  it('encodes a key pair as JSON that names its kind and did, and parses back to the same pair', () => {
    const text = encodeKeyFile(keys)
    const doc = JSON.parse(text)
    expect(doc.kind).toBe(KEY_FILE_KIND)
    expect(doc.did).toBe(didFromPublicKey(keys.publicKey))
    const parsed = parseKeyFile(text, 'node.key')
    expect(parsed.ok && parsed.value).toEqual(keys)
  })

  it('refuses a did that does not belong to the secret key, naming the source', () => {
    const other = keyPairFromSeed(new Uint8Array(32).fill(4))
    const doc = { ...JSON.parse(encodeKeyFile(keys)), did: didFromPublicKey(other.publicKey) }
    const parsed = parseKeyFile(JSON.stringify(doc), 'node.key')
    expect(parsed.ok ? 'loaded' : parsed.error).toEqual({
      code: 'mismatch',
      message: expect.stringContaining('node.key'),
    })
  })
})
