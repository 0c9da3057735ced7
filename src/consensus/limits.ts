import {
  BLOCK_TIME_DRIFT_MAX_MS,
  BLOCK_TIME_LAG_MAX_MS,
  CHECKPOINT_INTERVAL_BLOCKS,
  CONSENSUS_HEIGHTS_AHEAD_MAX,
  CONSENSUS_RETRANSMIT_MS,
  CONSENSUS_VIEWS_AHEAD_MAX,
  MEMPOOL_BYTES_MAX,
  MEMPOOL_RELAY_BATCH_TXS,
  MEMPOOL_SIGNER_SHARE_PERCENT,
  MEMPOOL_TXS_MAX,
  SYNC_BLOCKS_MAX,
  SYNC_DELAY_MS,
  SYNC_REQUEST_TIMEOUT_MS,
  VIEW_CHANGE_TIMEOUT_BASE_MS,
  VIEW_CHANGE_TIMEOUT_MAX_MS,
} from '../constants.js'

/**
 * The limits and timeouts of one replica. Defaults come from `src/constants.ts`; the
 * simulator and tests pass smaller ones so that seconds of virtual time cover many views.
 */
export interface ConsensusLimits {
  readonly mempoolTxsMax: number
  readonly mempoolBytesMax: number
  readonly mempoolSignerSharePercent: number
  readonly relayBatchTxs: number
  readonly heightsAheadMax: number
  readonly viewsAheadMax: number
  readonly checkpointIntervalBlocks: number
  readonly viewChangeTimeoutBaseMs: number
  readonly viewChangeTimeoutMaxMs: number
  readonly retransmitMs: number
  readonly blockTimeDriftMaxMs: number
  readonly blockTimeLagMaxMs: number
  readonly syncBlocksMax: number
  readonly syncRequestTimeoutMs: number
  readonly syncDelayMs: number
}

export const DEFAULT_CONSENSUS_LIMITS: ConsensusLimits = {
  mempoolTxsMax: MEMPOOL_TXS_MAX,
  mempoolBytesMax: MEMPOOL_BYTES_MAX,
  mempoolSignerSharePercent: MEMPOOL_SIGNER_SHARE_PERCENT,
  relayBatchTxs: MEMPOOL_RELAY_BATCH_TXS,
  heightsAheadMax: CONSENSUS_HEIGHTS_AHEAD_MAX,
  viewsAheadMax: CONSENSUS_VIEWS_AHEAD_MAX,
  checkpointIntervalBlocks: CHECKPOINT_INTERVAL_BLOCKS,
  viewChangeTimeoutBaseMs: VIEW_CHANGE_TIMEOUT_BASE_MS,
  viewChangeTimeoutMaxMs: VIEW_CHANGE_TIMEOUT_MAX_MS,
  retransmitMs: CONSENSUS_RETRANSMIT_MS,
  blockTimeDriftMaxMs: BLOCK_TIME_DRIFT_MAX_MS,
  blockTimeLagMaxMs: BLOCK_TIME_LAG_MAX_MS,
  syncBlocksMax: SYNC_BLOCKS_MAX,
  syncRequestTimeoutMs: SYNC_REQUEST_TIMEOUT_MS,
  syncDelayMs: SYNC_DELAY_MS,
}
