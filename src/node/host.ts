import { randomBytes } from 'node:crypto'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { mdns } from '@libp2p/mdns'
import { ping } from '@libp2p/ping'
import { createLibp2p } from 'libp2p'
import {
  GOSSIP_GOSSIP_THRESHOLD,
  GOSSIP_GRAYLIST_THRESHOLD,
  GOSSIP_HISTORY_HEARTBEATS,
  GOSSIP_INVALID_MESSAGE_DECAY,
  GOSSIP_INVALID_MESSAGE_WEIGHT,
  GOSSIP_LAZY_PEERS,
  GOSSIP_PUBLISH_THRESHOLD,
  INBOUND_CONNECTIONS_PER_HOST_PER_SEC,
  INBOUND_PENDING_CONNECTIONS_MAX,
  NETWORK_MAX_CONNECTIONS_DEFAULT,
  NETWORK_TARGET_CONNECTIONS_DEFAULT,
  PEER_EXCHANGE_INBOUND_STREAMS_MAX,
} from '../constants.js'
import type { KeyPair } from '../crypto/ed25519.js'
import { Prng } from '../prng.js'
import { Connector, type ConnectorOptions, parseBootstrapList } from './connector.js'
import { peerExchangeHandler } from './peer-exchange.js'
import { transportStack } from './transport.js'

/**
 * The libp2p host: TCP, noise, yamux, identify, ping, gossipsub; peers from a bootstrap list,
 * mDNS and peer exchange, kept connected by the connector (connector.ts). Its peer id is the
 * node's own ed25519 key, so a peer's libp2p identity and its ledger identity (device key,
 * validator key) are the same key.
 */
export interface HostOptions {
  readonly keys: KeyPair
  readonly listen: readonly string[]
  /** Multiaddrs ending in /p2p/<peer id>, dialled (and redialled) by the connector. */
  readonly bootstrap: readonly string[]
  readonly mdns: boolean
  /** With a chain id the host serves and uses peer exchange, `/fwmesh/<chain>/peers/1`. */
  readonly chainId?: string
  /**
   * A dial the node made by itself failed: to a bootstrap address, or to a peer found by
   * discovery or peer exchange, or lost. It is tried again after a backoff (`retryInMs`).
   */
  readonly onDiscoveryDialError?: (peer: string, error: Error, retryInMs: number) => void
  /** A neighbour answered a peer-exchange request (see Connector). */
  readonly onPeersExchanged?: ConnectorOptions['onPeersExchanged']
  /**
   * Known peers (bootstrap, discovered, exchanged, lost) are dialled only below this many
   * connections: `network.target_connections` (NETWORK_TARGET_CONNECTIONS_DEFAULT). Its old
   * name `discoveryDialConnectionsMax` still works.
   */
  readonly targetConnections?: number
  /** @deprecated The same as `targetConnections`. */
  readonly discoveryDialConnectionsMax?: number
  /** libp2p's maxConnections, `network.max_connections` (NETWORK_MAX_CONNECTIONS_DEFAULT). */
  readonly maxConnections?: number
  /** Randomness for backoff jitter and peer exchange; from the OS when not given. */
  readonly prng?: Prng
  /**
   * Leave `host.connector` stopped: the caller starts it once its protocol handlers and
   * `peer:connect` listeners are in place (the daemon), so no neighbour connects before the
   * node can serve it or pull from it.
   */
  readonly deferConnector?: boolean
  /** The node's clock, for the connector's redial schedule; the system clock by default. */
  readonly clock?: ConnectorOptions['clock']
}

export function protocolIds(chainId: string) {
  return {
    pbft: `/fwmesh/${chainId}/pbft/1`,
    sync: `/fwmesh/${chainId}/sync/1`,
    chunks: `/fwmesh/${chainId}/chunks/1`,
    peers: `/fwmesh/${chainId}/peers/1`,
  }
}

export function gossipTopics(chainId: string) {
  return {
    tx: `fwmesh/${chainId}/tx`,
    block: `fwmesh/${chainId}/block`,
    // Devices' signed progress on releases (src/agent/progress.ts, progress-gossip.ts).
    progress: `fwmesh/${chainId}/progress`,
  }
}

/**
 * Gossipsub's score parameters of one of our topics: only invalid messages (those a topic
 * validator rejects, src/node/gossip.ts) count, each against the peer that forwarded it
 * (constants.ts, GOSSIP_INVALID_MESSAGE_WEIGHT, says how much). Mesh time, first deliveries
 * and mesh delivery rates are not scored: a block every 30 s on an idle chain is too few
 * messages to judge a peer's delivery rate by, and every honest peer should score the same.
 */
export function gossipTopicScoreParams() {
  return {
    topicWeight: 1,
    timeInMeshWeight: 0,
    timeInMeshQuantum: 1_000,
    timeInMeshCap: 1,
    firstMessageDeliveriesWeight: 0,
    firstMessageDeliveriesDecay: 0.5,
    firstMessageDeliveriesCap: 1,
    meshMessageDeliveriesWeight: 0,
    meshMessageDeliveriesDecay: 0.5,
    meshMessageDeliveriesCap: 1,
    meshMessageDeliveriesThreshold: 1,
    meshMessageDeliveriesWindow: 10,
    meshMessageDeliveriesActivation: 5_000,
    meshFailurePenaltyWeight: 0,
    meshFailurePenaltyDecay: 0.5,
    invalidMessageDeliveriesWeight: GOSSIP_INVALID_MESSAGE_WEIGHT,
    invalidMessageDeliveriesDecay: GOSSIP_INVALID_MESSAGE_DECAY,
  }
}

/** The score thresholds of docs/hardening.md ("Gossip validation and peer scoring"). */
export const GOSSIP_SCORE_THRESHOLDS = {
  gossipThreshold: GOSSIP_GOSSIP_THRESHOLD,
  publishThreshold: GOSSIP_PUBLISH_THRESHOLD,
  graylistThreshold: GOSSIP_GRAYLIST_THRESHOLD,
  // Peer exchange over gossipsub is off (doPX), so this never applies; gossipsub's default.
  acceptPXThreshold: 10,
  // Honest peers all score 0, so the median never exceeds this and no opportunistic graft
  // replaces a mesh peer; gossipsub's default.
  opportunisticGraftThreshold: 20,
} as const

export async function createHost(options: HostOptions) {
  const bootstrap = parseBootstrapList(options.bootstrap)
  if (!bootstrap.ok) throw new Error(bootstrap.error)
  const maxConnections = options.maxConnections ?? NETWORK_MAX_CONNECTIONS_DEFAULT
  const targetConnections = Math.min(
    maxConnections,
    options.targetConnections ?? options.discoveryDialConnectionsMax ?? NETWORK_TARGET_CONNECTIONS_DEFAULT,
  )
  const privateKey = await generateKeyPairFromSeed('Ed25519', options.keys.secretKey)
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: [...options.listen] },
    ...transportStack(),
    // The bootstrap list is the connector's, which redials it; mDNS only reports peers.
    peerDiscovery: options.mdns ? [mdns()] : [],
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
      maxConnections,
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
        // IHAVE for one heartbeat to three peers: gossip only repairs what the mesh and sync
        // miss, and idle, it was most of what a follower sent (constants.ts says how much).
        mcacheGossip: GOSSIP_HISTORY_HEARTBEATS,
        Dlazy: GOSSIP_LAZY_PEERS,
        // Peer scoring (docs/hardening.md): a peer whose messages our topic validators reject
        // loses score, and below the graylist threshold everything it sends is dropped unread.
        // Gossipsub penalises more than 10 peers on one IP address (a Sybil defence). A site's
        // devices reach their gateway through one NAT address, and every message on our topics
        // is checked by signature or certificate anyway; with the penalty a gateway (or any
        // node in a test on 127.0.0.1) drops every peer from its mesh and stops relaying.
        scoreParams: {
          IPColocationFactorWeight: 0,
          topics:
            options.chainId === undefined
              ? {}
              : Object.fromEntries(
                  Object.values(gossipTopics(options.chainId)).map((t) => [t, gossipTopicScoreParams()]),
                ),
        },
        scoreThresholds: { ...GOSSIP_SCORE_THRESHOLDS },
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
  const prng = options.prng ?? Prng.fromBytes(randomBytes(32))
  const peerExchangeProtocol = options.chainId === undefined ? undefined : protocolIds(options.chainId).peers
  if (peerExchangeProtocol !== undefined) {
    await node.handle(peerExchangeProtocol, peerExchangeHandler(node, prng.child('peer-exchange')), {
      maxInboundStreams: PEER_EXCHANGE_INBOUND_STREAMS_MAX,
    })
  }
  const connector = new Connector(node, {
    bootstrap: bootstrap.value,
    targetConnections,
    prng: prng.child('connector'),
    peerExchangeProtocol,
    onDialError: options.onDiscoveryDialError,
    onPeersExchanged: options.onPeersExchanged,
    clock: options.clock,
  })
  if (options.deferConnector !== true) await connector.start()
  return Object.assign(node, { connector })
}

export type Host = Awaited<ReturnType<typeof createHost>>

/** The 32-byte ed25519 public key of a peer id, or undefined for other key types. */
export function peerPublicKey(peer: PeerId): Uint8Array | undefined {
  const key = (peer as { publicKey?: { type?: string; raw?: Uint8Array } }).publicKey
  return key?.type === 'Ed25519' && key.raw?.byteLength === 32 ? key.raw : undefined
}

export type { Libp2p }
