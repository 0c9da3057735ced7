import { SYNC_BLOCKS_MAX, SYNC_RESPONSE_BYTES_MAX } from '../constants.js'
import type { CertifiedBlock, SyncRequest, SyncResponse } from './messages.js'

/**
 * The serving half of block sync (`/fwmesh/<chain>/sync/1`): a peer asks for committed blocks
 * from a height, the node answers from its store with consecutive blocks and their
 * certificates, bounded in count and bytes. The asking half lives in the cores (`Replica`,
 * `Follower`), which check every block and certificate themselves and trust no sender.
 */

export interface SyncServeLimits {
  readonly blocksMax: number
  readonly bytesMax: number
}

export const DEFAULT_SYNC_SERVE_LIMITS: SyncServeLimits = {
  blocksMax: SYNC_BLOCKS_MAX,
  bytesMax: SYNC_RESPONSE_BYTES_MAX,
}

/** Framing of one entry and of the response, and a certificate's bytes per vote (generous). */
const ENTRY_OVERHEAD_BYTES = 256
const VOTE_BYTES = 96

/**
 * Answers a sync request from a synchronous block reader (the simulator's in-memory store,
 * or a node's cache); a node reading LevelDB runs the same loop with `await`.
 */
export function serveSync(
  request: SyncRequest,
  read: (height: number) => CertifiedBlock | undefined,
  limits: SyncServeLimits = DEFAULT_SYNC_SERVE_LIMITS,
): SyncResponse {
  const blocks: CertifiedBlock[] = []
  let bytes = ENTRY_OVERHEAD_BYTES
  const count = Math.min(request.count, limits.blocksMax)
  for (let h = request.height; blocks.length < count; h++) {
    const entry = read(h)
    if (!entry) break
    const size = entry.block.bytes.byteLength + entry.cert.votes.length * VOTE_BYTES + ENTRY_OVERHEAD_BYTES
    if (bytes + size > limits.bytesMax && blocks.length > 0) break
    bytes += size
    blocks.push(entry)
  }
  return { type: 'sync-response', blocks }
}
