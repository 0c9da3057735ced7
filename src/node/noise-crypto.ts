import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { defaultCrypto, nodeCrypto } from '@chainsafe/libp2p-noise/crypto'

/**
 * Noise's crypto with every ChaCha20-Poly1305 message sealed and opened by node:crypto.
 *
 * The default sends messages under 1,200 bytes through WebAssembly builds of ChaCha20-Poly1305
 * and SHA-256 (@chainsafe/as-chacha20poly1305, @chainsafe/as-sha256), a little faster for small
 * messages. Instantiating those modules costs ~8 MB of resident memory that never goes away
 * (wasm code, its compiler's pages of the node binary, linear memory): a bare `node` importing
 * both measured 50.2-50.7 MB RSS against 42.1 without. The output is the same cipher, byte for
 * byte. The bundle (scripts/bundle.ts) leaves the WebAssembly modules out for good.
 */
export const nodeNoiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  hashSHA256: nodeCrypto.hashSHA256,
  chaCha20Poly1305Encrypt: nodeCrypto.chaCha20Poly1305Encrypt,
  chaCha20Poly1305Decrypt: nodeCrypto.chaCha20Poly1305Decrypt,
}
