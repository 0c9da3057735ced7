/**
 * What the node's drivers need of a ledger store, as an interface: the ledger core stays pure
 * (no `level`, no `fs`) and the LevelDB implementation lives with the other I/O, in
 * `src/node/store/level-ledger-store.ts`. An implementation keeps blocks, their certificates,
 * the audit indexes, the derived state and a few records of the node's own, and checks on
 * open what it holds (hash chain, certificates, state root) before it hands out a state.
 */
import type { Result } from '../codec/result.js'
import type { Block } from './block.js'
import type { Certificate } from './certificate.js'
import type { Genesis } from './genesis.js'
import type { Head, LedgerState } from './state.js'
import type { SignedTx } from './tx.js'
import type { BlockFault } from './verify-block.js'

export type AuditIndex = 'device' | 'release' | 'product' | 'signer'

/** One audit row: a committed transaction, where and when. */
export interface AuditRow {
  readonly height: number
  readonly index: number
  readonly time: number
  readonly tx: SignedTx
}

export interface LedgerStore {
  /** The genesis the store was created for (a store refuses to open for another). */
  readonly genesis: Genesis
  /** The state after the head block. Treat as read-only: derive from it to try things. */
  readonly state: LedgerState
  readonly head: Head
  /**
   * Appends a block that a consensus or follower core has already verified in full. The link
   * and certificate are checked again and the rules re-derive the state change, without
   * verifying the transactions' signatures a second time. A refused block changes nothing.
   */
  appendVerified(block: Block, cert: Certificate): Promise<Result<LedgerState, BlockFault>>
  /** The block and certificate at a height, or undefined above the head. */
  block(height: number): Promise<{ block: Block; cert: Certificate } | undefined>
  /** Audit rows under one index key, oldest first, at most `limit`. */
  audit(index: AuditIndex, key: string, limit?: number): Promise<AuditRow[]>
  /** Rebuilds the state by replaying every stored block from genesis under the rules. */
  replayState(): Promise<Result<LedgerState, BlockFault & { height: number }>>
  /**
   * Frees the record hashes built on open, once a core holds its own copy of the state (the
   * core checks every block's root from then on).
   */
  releaseStateDigest(): void
  /** A small record the node keeps beside the ledger (e.g. what a validator has signed). */
  getMeta(key: string): Promise<Uint8Array | undefined>
  putMeta(key: string, value: Uint8Array): Promise<void>
  close(): Promise<void>
}
