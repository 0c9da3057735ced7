import { describe, expect, it } from 'vitest'
import { didFromPublicKey, publicKeyFromDid } from '../../src/crypto/did.js'
import { keyPairFromSeed } from '../../src/crypto/ed25519.js'

describe('crypto: did:key', () => {
  it('round-trips an ed25519 key through its did:key, which starts with z6Mk', () => {
    const keys = keyPairFromSeed(new Uint8Array(32).fill(1))
    const did = didFromPublicKey(keys.publicKey)
    expect(did.startsWith('did:key:z6Mk')).toBe(true)
    expect(publicKeyFromDid(did)).toEqual(keys.publicKey)
  })

  it('matches the did:key specification example key', () => {
    // From the W3C CCG did:key spec: the multibase key z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK.
    const did = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'
    const key = publicKeyFromDid(did)
    expect(key?.length).toBe(32)
    expect(didFromPublicKey(key!)).toBe(did)
  })

  it('refuses other methods, other key types, bad base58 and wrong lengths', () => {
    for (const text of [
      'did:web:example.com',
      'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme', // secp256k1
      'did:key:z0OIl',
      'did:key:z6Mk',
      '',
    ]) {
      expect(publicKeyFromDid(text), text).toBeUndefined()
    }
  })
})
