import { createCipheriv } from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { defaultCrypto, nodeCrypto } from '@chainsafe/libp2p-noise/crypto'

/** ChaCha20-Poly1305's tag: 16 bytes after the ciphertext of every noise message. */
const TAG_BYTES = 16

/**
 * Seals one noise transport message into a single buffer: the ciphertext with its tag behind it.
 *
 * Noise's own node:crypto path returns a list (the cipher's output per part of the plaintext,
 * then the tag) whenever the plaintext is a list, which it is for every yamux frame (header and
 * data), and @libp2p/tcp writes each part of a list with its own `socket.write`: with noise's
 * 2-byte length in front, four writes (four syscalls on an idle socket) per noise message, five
 * messages per 256 KiB chunk. One contiguous buffer makes it two; the copy it costs is a memcpy
 * of at most 64 KiB beside a syscall and a write request each saved.
 */
/** What noise hands its cipher: one buffer, or a list of them (noise's own uint8arraylist). */
type Plaintext = Parameters<ICryptoInterface['chaCha20Poly1305Encrypt']>[0]

function sealContiguous(
  plaintext: Plaintext,
  nonce: Uint8Array,
  ad: Uint8Array,
  key: Uint8Array,
): Uint8Array {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES })
  cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
  const sealed = Buffer.allocUnsafe(plaintext.byteLength + TAG_BYTES)
  let at = 0
  const parts = plaintext instanceof Uint8Array ? [plaintext] : plaintext
  for (const part of parts) at += cipher.update(part).copy(sealed, at)
  at += cipher.final().copy(sealed, at)
  cipher.getAuthTag().copy(sealed, at)
  return sealed
}

/**
 * Noise's crypto with every ChaCha20-Poly1305 message sealed and opened by node:crypto, each
 * sealed message one buffer (sealContiguous).
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
  chaCha20Poly1305Encrypt: sealContiguous,
  chaCha20Poly1305Decrypt: nodeCrypto.chaCha20Poly1305Decrypt,
}
