import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { isLoopback } from '@libp2p/utils'
import { CODE_P2P, type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { type DecodeError, decodeCbor, decodeError, encodeCbor } from '../codec/cbor.js'
import { err, ok, type Result } from '../codec/result.js'
import { array, struct, text, uint } from '../codec/schema.js'
import {
  PEER_EXCHANGE_ADDR_LENGTH_MAX,
  PEER_EXCHANGE_ADDRS_PER_PEER_MAX,
  PEER_EXCHANGE_PEER_ID_LENGTH_MAX,
  PEER_EXCHANGE_PEERS_MAX,
  PEER_EXCHANGE_REQUEST_BYTES_MAX,
  PEER_EXCHANGE_RESPONSE_BYTES_MAX,
  PEER_EXCHANGE_TIMEOUT_MS,
} from '../constants.js'
import type { Prng } from '../prng.js'
import { FramedStream } from './framing.js'

/**
 * `/fwmesh/<chain>/peers/1`, peer exchange: a node asks a neighbour for up to
 * PEER_EXCHANGE_PEERS_MAX of the peers it is connected to, with their listen addresses, and
 * dials them itself (connector.ts). One request frame, one answer frame, both length-prefixed
 * DAG-CBOR; the answer is bounded in bytes, peers and addresses, and decoded strictly.
 *
 * Why a protocol of our own and not a libp2p discovery module: @libp2p/kad-dht's random walk
 * keeps a routing table and runs queries all the time, heavy for a one-core gateway that only
 * wants a few dozen neighbours; gossipsub's peer exchange only happens when a peer PRUNEs us
 * from a mesh (with scoring and `doPX`), so a node that is not pruned learns nothing; a
 * rendezvous point needs a server of its own. This is one request per new neighbour and one
 * every 1–30 s while below target (connector.ts), ~100 lines on the framing and decoders
 * the other protocols use. What a neighbour says is only a hint: every dial is authenticated
 * by noise against the peer id, and a lying neighbour can at most make us dial addresses that
 * fail, bounded by the answer's size, REDIAL_KNOWN_PEERS_MAX and the backoff.
 */

/** A request: how many peers the asker wants (1..PEER_EXCHANGE_PEERS_MAX). */
export interface PeerExchangeRequest {
  readonly max: number
}

/** One peer of an answer, with the addresses it listens on. */
export interface ExchangedPeer {
  readonly id: PeerId
  readonly addrs: readonly Multiaddr[]
}

const requestSchema = struct({ max: uint(PEER_EXCHANGE_PEERS_MAX, 1) })

// Base58btc (legacy and Ed25519 ids) or a base32 CIDv1: the two text forms of a peer id.
const PEER_ID_TEXT = /^(?:[1-9A-HJ-NP-Za-km-z]+|b[a-z2-7]+)$/

const responseSchema = struct({
  peers: array(
    struct({
      id: text(PEER_EXCHANGE_PEER_ID_LENGTH_MAX, PEER_ID_TEXT, 1),
      addrs: array(text(PEER_EXCHANGE_ADDR_LENGTH_MAX, /^\//, 1), PEER_EXCHANGE_ADDRS_PER_PEER_MAX, 1),
    }),
    PEER_EXCHANGE_PEERS_MAX,
  ),
})

export function encodePeerRequest(request: PeerExchangeRequest): Uint8Array {
  return encodeCbor({ max: request.max })
}

export function decodePeerRequest(bytes: Uint8Array): Result<PeerExchangeRequest, DecodeError> {
  const value = decodeCbor(bytes, PEER_EXCHANGE_REQUEST_BYTES_MAX)
  if (!value.ok) return value
  return requestSchema(value.value, '')
}

/** Encodes an answer; the caller keeps within the decoder's bounds (`listPeers` does). */
export function encodePeerResponse(peers: readonly ExchangedPeer[]): Uint8Array {
  return encodeCbor({ peers: peers.map((p) => ({ id: p.id.toString(), addrs: p.addrs.map(String) })) })
}

/**
 * Decodes an answer: too large, not DAG-CBOR, the wrong shape, more peers or addresses than
 * allowed, a peer id or multiaddr that does not parse, or an address naming a peer id of its
 * own are each a `DecodeError`, never an exception and never a partial list.
 */
export function decodePeerResponse(bytes: Uint8Array): Result<ExchangedPeer[], DecodeError> {
  const value = decodeCbor(bytes, PEER_EXCHANGE_RESPONSE_BYTES_MAX)
  if (!value.ok) return value
  const shaped = responseSchema(value.value, '')
  if (!shaped.ok) return shaped
  const peers: ExchangedPeer[] = []
  for (const [i, p] of shaped.value.peers.entries()) {
    let id: PeerId
    try {
      id = peerIdFromString(p.id)
    } catch (cause) {
      return err(decodeError('malformed', `peers[${i}].id`, `not a peer id (${(cause as Error).message})`))
    }
    const addrs: Multiaddr[] = []
    for (const [j, a] of p.addrs.entries()) {
      const path = `peers[${i}].addrs[${j}]`
      let ma: Multiaddr
      try {
        ma = multiaddr(a)
      } catch (cause) {
        return err(decodeError('malformed', path, `not a multiaddr (${(cause as Error).message})`))
      }
      if (ma.getComponents().some((c) => c.code === CODE_P2P))
        return err(decodeError('out-of-range', path, 'an address must not name a peer id'))
      addrs.push(ma)
    }
    peers.push({ id, addrs })
  }
  return ok(peers)
}

/**
 * Up to `max` of the peers `node` is connected to, other than `asker`, in random order, each
 * with up to PEER_EXCHANGE_ADDRS_PER_PEER_MAX listen addresses from the peer store (learned
 * by identify), loopback last. Peers without a known address are left out.
 */
export async function listPeers(
  node: Libp2p,
  asker: PeerId,
  max: number,
  prng: Prng,
): Promise<ExchangedPeer[]> {
  const candidates = prng.shuffle(node.getPeers().filter((p) => !p.equals(asker)))
  const out: ExchangedPeer[] = []
  for (const id of candidates) {
    if (out.length >= max) break
    const peer = await node.peerStore.get(id).catch(() => undefined)
    if (!peer) continue
    const addrs = peer.addresses
      .map((a) => a.multiaddr.decapsulateCode(CODE_P2P))
      .filter((a) => a.toString().length <= PEER_EXCHANGE_ADDR_LENGTH_MAX)
      .sort((a, b) => Number(isLoopback(a)) - Number(isLoopback(b)))
      .slice(0, PEER_EXCHANGE_ADDRS_PER_PEER_MAX)
    if (addrs.length > 0 && id.toString().length <= PEER_EXCHANGE_PEER_ID_LENGTH_MAX) out.push({ id, addrs })
  }
  return out
}

/** Answers peer-exchange requests from the peers `node` is connected to. */
export function peerExchangeHandler(node: Libp2p, prng: Prng) {
  return async (stream: Stream, connection: Connection): Promise<void> => {
    // One limit for both directions: the request is decoded against its own, smaller bound.
    const framed = new FramedStream(stream, PEER_EXCHANGE_RESPONSE_BYTES_MAX)
    try {
      const frame = await framed.read(PEER_EXCHANGE_TIMEOUT_MS)
      if (frame === null) return
      const request = decodePeerRequest(frame)
      if (!request.ok) {
        framed.abort(`bad peer-exchange request: ${request.error.message}`)
        return
      }
      const peers = await listPeers(node, connection.remotePeer, request.value.max, prng)
      await framed.write(encodePeerResponse(peers), PEER_EXCHANGE_TIMEOUT_MS)
      await framed.close()
    } catch {
      framed.abort('peer exchange failed')
    }
  }
}

/**
 * Asks `peer` for up to `max` peers. The answer is decoded, not checked further: the caller
 * skips itself and peers it is connected to. Throws if the stream fails or the peer does not
 * speak the protocol; an answer that does not decode is a DecodeError.
 */
export async function requestPeers(
  node: Libp2p,
  protocol: string,
  peer: PeerId,
  max: number,
): Promise<Result<ExchangedPeer[], DecodeError>> {
  const stream = await node.dialProtocol(peer, protocol, {
    signal: AbortSignal.timeout(PEER_EXCHANGE_TIMEOUT_MS),
  })
  const framed = new FramedStream(stream, PEER_EXCHANGE_RESPONSE_BYTES_MAX)
  try {
    await framed.write(encodePeerRequest({ max }), PEER_EXCHANGE_TIMEOUT_MS)
    const frame = await framed.read(PEER_EXCHANGE_TIMEOUT_MS)
    if (frame === null)
      return err(decodeError('malformed', '', 'the peer closed the stream without answering'))
    return decodePeerResponse(frame)
  } finally {
    await framed.close()
  }
}
