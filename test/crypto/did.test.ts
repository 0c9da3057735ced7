import { describe, expect, it } from 'vitest'
import { didFromPublicKey, publicKeyFromDid, SHORT_DID_CHARS, shortDid } from '../../src/crypto/did.js'
import { keyPairFromSeed } from '../../src/crypto/ed25519.js'

describe('crypto: did:key', () => {
  it('round-trips an ed25519 key through its did:key, which starts with z6Mk', () => {
    const keys = keyPairFromSeed(new Uint8Array(32).fill(1))
    const did = didFromPublicKey(keys.publicKey)
    expect(did.startsWith('did:key:z6Mk')).toBe(true)
    expect(publicKeyFromDid(did)).toEqual(keys.publicKey)
  })

  it('has one short form for people: did:key, z6Mk and 12 more characters, then an ellipsis', () => {
    const did = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'
    expect(shortDid(did)).toBe('did:key:z6MkhaXgBZDvotDk…')
    expect(shortDid(publicKeyFromDid(did)!)).toBe(shortDid(did))
    expect(shortDid(did).length).toBe('did:key:'.length + SHORT_DID_CHARS + 1)
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
