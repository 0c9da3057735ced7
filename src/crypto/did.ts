import { base58btc } from 'multiformats/bases/base58'
import { PUBLIC_KEY_BYTES } from './ed25519.js'

// did:key for ed25519: multicodec ed25519-pub (0xed, varint 0xed 0x01) + the raw key, base58btc.
const ED25519_PUB_PREFIX = Uint8Array.of(0xed, 0x01)

/** `did:key:z6Mk…` of an ed25519 public key (W3C did:key method). */
export function didFromPublicKey(publicKey: Uint8Array): string {
  const tagged = new Uint8Array(ED25519_PUB_PREFIX.length + publicKey.length)
  tagged.set(ED25519_PUB_PREFIX)
  tagged.set(publicKey, ED25519_PUB_PREFIX.length)
  return `did:key:${base58btc.encode(tagged)}`
}

/** The public key of an ed25519 did:key, or undefined when the text is not one. */
export function publicKeyFromDid(did: string): Uint8Array | undefined {
  if (!did.startsWith('did:key:z')) return undefined
  let tagged: Uint8Array
  try {
    tagged = base58btc.decode(did.slice('did:key:'.length))
  } catch {
    return undefined
  }
  if (tagged.length !== ED25519_PUB_PREFIX.length + PUBLIC_KEY_BYTES) return undefined
  if (tagged[0] !== ED25519_PUB_PREFIX[0] || tagged[1] !== ED25519_PUB_PREFIX[1]) return undefined
  return tagged.slice(ED25519_PUB_PREFIX.length)
}
