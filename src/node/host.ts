import { bootstrap } from '@libp2p/bootstrap'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { mdns } from '@libp2p/mdns'
import { ping } from '@libp2p/ping'
import { createLibp2p } from 'libp2p'
import {
  DISCOVERY_DIAL_CONNECTIONS_MAX,
  INBOUND_CONNECTIONS_PER_HOST_PER_SEC,
  INBOUND_PENDING_CONNECTIONS_MAX,
} from '../constants.js'
import type { KeyPair } from '../crypto/ed25519.js'
import { transportStack } from './transport.js'

/**
 * The libp2p host: TCP, noise, yamux, identify, ping, gossipsub; discovery from a bootstrap
 * list and mDNS. Its peer id is the node's own ed25519 key, so a peer's libp2p identity and
 * its ledger identity (device key, validator key) are the same key.
 */
export interface HostOptions {
  readonly keys: KeyPair
  readonly listen: readonly string[]
  readonly bootstrap: readonly string[]
  readonly mdns: boolean
  /** A dial of a discovered peer failed (it is only tried again when discovered again). */
  readonly onDiscoveryDialError?: (peer: string, error: Error) => void
  /** Discovered peers are dialled below this many connections (DISCOVERY_DIAL_CONNECTIONS_MAX). */
  readonly discoveryDialConnectionsMax?: number
}

export function protocolIds(chainId: string) {
  return {
    pbft: `/fwmesh/${chainId}/pbft/1`,
    sync: `/fwmesh/${chainId}/sync/1`,
    chunks: `/fwmesh/${chainId}/chunks/1`,
  }
}

export function gossipTopics(chainId: string) {
  return { tx: `fwmesh/${chainId}/tx`, block: `fwmesh/${chainId}/block` }
}

export async function createHost(options: HostOptions) {
  const privateKey = await generateKeyPairFromSeed('Ed25519', options.keys.secretKey)
  const peerDiscovery = []
  if (options.bootstrap.length > 0) peerDiscovery.push(bootstrap({ list: [...options.bootstrap] }))
  if (options.mdns) peerDiscovery.push(mdns())
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: [...options.listen] },
    ...transportStack(),
    peerDiscovery,
    // libp2p's connection monitor opens a ping stream on every connection every 10 s
    // (multistream-select, noise and yamux frames, a peer-store write of the round trip) and
    // aborts the connection when a ping is late. On an idle follower with 20 neighbours that was
    // four new streams a second; on a busy one-core gateway a late ping tore down healthy
    // connections, chunk streams included, and the redial pulled the ledger again. Nothing here
    // reads its round-trip times; yamux's keep-alive (a 12-byte ping frame every 30 s, no new
    // stream) keeps idle connections open, and the chunk and sync protocols time out their own
    // requests.
    connectionMonitor: { enabled: false },
    connectionManager: {
      inboundConnectionThreshold: INBOUND_CONNECTIONS_PER_HOST_PER_SEC,
      maxIncomingPendingConnections: INBOUND_PENDING_CONNECTIONS_MAX,
    },
    services: {
      identify: identify(),
      ping: ping(),
      // Gossip is best effort (FACTS.md): every node also pulls blocks over the sync protocol.
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        D: 6,
        Dlo: 4,
        Dhi: 12,
        // Gossipsub penalises more than 10 peers on one IP address (a Sybil defence). A site's
        // devices reach their gateway through one NAT address, and every message on our topics
        // is checked by signature or certificate anyway; with the penalty a gateway (or any
        // node in a test on 127.0.0.1) drops every peer from its mesh and stops relaying.
        scoreParams: { IPColocationFactorWeight: 0 },
        // Our messages authenticate themselves: a block carries its 2f+1 certificate, a
        // transaction its author's signature, and both are checked on receipt. Gossipsub's own
        // signature per message (an ed25519 sign per publish, a verify per hop) added nothing
        // but CPU, and its message id (publisher + sequence number) made the four validators'
        // announcements of one block four messages that each flooded the mesh. Unsigned, the
        // id is the SHA-256 of the bytes, so the second announcement of a block is a duplicate
        // dropped at the first hop.
        globalSignaturePolicy: 'StrictNoSign',
      }),
    },
  })
  dialDiscoveredPeers(
    node,
    options.discoveryDialConnectionsMax ?? DISCOVERY_DIAL_CONNECTIONS_MAX,
    options.onDiscoveryDialError,
  )
  return node
}

/**
 * Dials each peer discovery finds (mDNS), while the node has fewer than `connectionsMax`
 * connections and none to that peer: libp2p 3 only records discovered peers (its mDNS
 * documentation says to dial them), so without this a node found on the LAN would never be
 * connected to.
 */
function dialDiscoveredPeers(
  node: Libp2p,
  connectionsMax: number,
  onError?: (peer: string, error: Error) => void,
): void {
  // A dial adds the peer to the peer store, which libp2p reports as a discovery again.
  const dialing = new Set<string>()
  node.addEventListener('peer:discovery', (event) => {
    const { id, multiaddrs } = event.detail
    const key = id.toString()
    if (id.equals(node.peerId) || node.status !== 'started' || dialing.has(key)) return
    if (node.getConnections(id).length > 0) return
    if (node.getConnections().length + dialing.size >= connectionsMax) return
    dialing.add(key)
    node
      .dial(multiaddrs.length > 0 ? multiaddrs : id)
      .catch((error: Error) => onError?.(key, error))
      .finally(() => dialing.delete(key))
  })
}

export type Host = Awaited<ReturnType<typeof createHost>>

/** The 32-byte ed25519 public key of a peer id, or undefined for other key types. */
export function peerPublicKey(peer: PeerId): Uint8Array | undefined {
  const key = (peer as { publicKey?: { type?: string; raw?: Uint8Array } }).publicKey
  return key?.type === 'Ed25519' && key.raw?.byteLength === 32 ? key.raw : undefined
}

export type { Libp2p }
