import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { describe, expect, it } from 'vitest'
import { nodeNoiseCrypto } from '../../src/node/noise-crypto.js'

const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7)
const nonce = Uint8Array.from({ length: 12 }, (_, i) => 200 - i)
const ad = Uint8Array.from([1, 2, 3])

/**
 * Peers running noise's default crypto (WebAssembly under 1,200 bytes) must read what a node
 * seals and be read by it: the same cipher, byte for byte, on both sides of the size switch.
 */
describe('node: noise crypto through node:crypto only', () => {
  for (const size of [0, 1, 100, 1199, 1200, 1201, 70_000]) {
    it(`seals and opens like noise's default crypto (${size} bytes)`, () => {
      const plaintext = Uint8Array.from({ length: size }, (_, i) => (i * 31 + 5) & 0xff)
      const ours = nodeNoiseCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, key).subarray()
      const theirs = defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, key).subarray()
      expect(Buffer.from(ours).equals(Buffer.from(theirs)), 'ciphertexts differ').toBe(true)
      const opened = nodeNoiseCrypto.chaCha20Poly1305Decrypt(theirs, nonce, ad, key).subarray()
      expect(Buffer.from(opened).equals(Buffer.from(plaintext)), 'opened text differs').toBe(true)
    })
  }

  it('rejects a tampered small message', () => {
    const sealed = Uint8Array.from(
      nodeNoiseCrypto.chaCha20Poly1305Encrypt(new Uint8Array(40), nonce, ad, key).subarray(),
    )
    sealed[3]! ^= 1
    expect(() => nodeNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, key)).toThrow()
  })

  it('hashes like the default', () => {
    const data = new Uint8Array(500).fill(9)
    expect(Buffer.from(nodeNoiseCrypto.hashSHA256(data).subarray())).toEqual(
      Buffer.from(defaultCrypto.hashSHA256(data).subarray()),
    )
  })
})
