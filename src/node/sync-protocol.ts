import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { type CertifiedBlock, decode, encode, serveSync } from '../consensus/index.js'
import { SYNC_BLOCKS_MAX, SYNC_REQUEST_TIMEOUT_MS, SYNC_RESPONSE_BYTES_MAX } from '../constants.js'
import type { LedgerStore } from '../ledger/ledger-store.js'
import { FramedStream } from './framing.js'
import type { Host } from './host.js'
import type { Logger } from './log.js'

/**
 * `/fwmesh/<chain>/sync/1`: one request, one response, then the stream closes. The server
 * answers from its store with consecutive committed blocks and their certificates, bounded in
 * count and bytes; the client hands what it got to its core, which verifies every block and
 * certificate itself. Gossip alone can lose blocks (FACTS.md), so every node pulls on connect.
 */

/** Serves sync requests from the store. */
export function syncHandler(store: LedgerStore, log: Logger) {
  return async (stream: Stream, connection: Connection): Promise<void> => {
    const framed = new FramedStream(stream, SYNC_RESPONSE_BYTES_MAX)
    try {
      const frame = await framed.read(SYNC_REQUEST_TIMEOUT_MS)
      if (frame === null) return
      const request = decode(frame)
      if (!request.ok || request.value.type !== 'sync-request') {
        log.debug(
          {
            peer: connection.remotePeer.toString(),
            why: request.ok ? request.value.type : request.error.message,
          },
          'bad sync request',
        )
        framed.abort('not a sync request')
        return
      }
      const { height } = request.value
      const count = Math.min(request.value.count, SYNC_BLOCKS_MAX)
      // Read the range from LevelDB first, then let the shared serving loop apply the limits.
      const cache = new Map<number, CertifiedBlock>()
      for (let h = height; h < height + count && h <= store.head.height; h++) {
        const entry = await store.block(h)
        if (!entry) break
        cache.set(h, entry)
      }
      const response = serveSync({ type: 'sync-request', height, count }, (h) => cache.get(h))
      await framed.write(encode(response), SYNC_REQUEST_TIMEOUT_MS)
      await framed.close()
    } catch (cause) {
      log.debug(
        { peer: connection.remotePeer.toString(), err: (cause as Error).message },
        'sync stream failed',
      )
      framed.abort('sync failed')
    }
  }
}

/**
 * Asks one peer for blocks from `height`. An empty list when it has none; an error string when
 * its answer is not a sync response, so the caller can penalise it. The blocks are unverified.
 */
export async function requestSync(
  host: Host,
  protocol: string,
  peer: PeerId,
  height: number,
  count: number,
): Promise<{ ok: true; blocks: CertifiedBlock[] } | { ok: false; error: string }> {
  const stream = await host.dialProtocol(peer, protocol, {
    signal: AbortSignal.timeout(SYNC_REQUEST_TIMEOUT_MS),
  })
  const framed = new FramedStream(stream, SYNC_RESPONSE_BYTES_MAX)
  try {
    await framed.write(
      encode({ type: 'sync-request', height, count: Math.min(count, SYNC_BLOCKS_MAX) }),
      SYNC_REQUEST_TIMEOUT_MS,
    )
    const frame = await framed.read(SYNC_REQUEST_TIMEOUT_MS)
    if (frame === null) return { ok: false, error: 'the peer closed the stream without answering' }
    const response = decode(frame)
    if (!response.ok) return { ok: false, error: `undecodable sync response: ${response.error.message}` }
    if (response.value.type !== 'sync-response')
      return { ok: false, error: `a ${response.value.type} message instead of a sync response` }
    return { ok: true, blocks: [...response.value.blocks] }
  } finally {
    await framed.close()
  }
}
