import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'

/**
 * The libp2p peer id of an ed25519 public key: what a node's key is called in multiaddrs
 * (`/ip4/.../tcp/.../p2p/<peer id>`), so an operator can write bootstrap addresses from a key.
 */
export function peerIdOf(publicKey: Uint8Array): string {
  return peerIdFromPublicKey(publicKeyFromRaw(publicKey) as never).toString()
}
