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

/**
 * Characters of a did:key's base58 part that its short form keeps: "z6Mk", which every ed25519
 * did:key starts with, and 12 more (~70 bits), enough to tell a fleet's keys apart.
 */
export const SHORT_DID_CHARS = 16

/**
 * The one short form of an identity, for people: `did:key:z6MkhaXgBZDvotDk…`. Messages and
 * human-readable output use it; JSON (`--json`, the API) always carries the full did:key.
 */
export function shortDid(identity: Uint8Array | string): string {
  const did = typeof identity === 'string' ? identity : didFromPublicKey(identity)
  const prefix = 'did:key:'.length + SHORT_DID_CHARS
  return did.length > prefix ? `${did.slice(0, prefix)}…` : did
}
