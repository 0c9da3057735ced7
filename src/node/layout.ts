import { join } from 'node:path'

/**
 * The layout of a node's data directory. Only `src/node/` (and the CLI through this file)
 * knows where things live on disk.
 *
 *   <data_dir>/node.key        the node's ed25519 identity (also its libp2p peer id)
 *   <data_dir>/ledger/         the LevelDB ledger
 *   <data_dir>/images/         firmware images being fetched or served, by manifest CID
 *   <data_dir>/agent.cbor      the device agent's persisted state
 *   <data_dir>/consensus.cbor  what a validator has signed (never sign twice)
 */
export function dataLayout(dataDir: string) {
  return {
    ledger: join(dataDir, 'ledger'),
    images: join(dataDir, 'images'),
    agentState: join(dataDir, 'agent.cbor'),
    consensusState: join(dataDir, 'consensus.cbor'),
    defaultKey: join(dataDir, 'node.key'),
  }
}
