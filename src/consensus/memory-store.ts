import { assert } from '../codec/assert.js'
import type { Block } from '../ledger/block.js'
import type { Certificate } from '../ledger/certificate.js'
import type { Genesis } from '../ledger/genesis.js'
import { LedgerState } from '../ledger/state.js'
import { applyBlock } from '../ledger/verify-block.js'
import type { ConsensusLimits } from './limits.js'
import type { CertifiedBlock } from './messages.js'
import { Replica } from './replica.js'
import type { SafetyRecord } from './safety.js'

/**
 * A validator's store held in memory, for the drivers that run without a disk (both
 * simulators, the test harness, the bench): its committed blocks with their certificates, and
 * its last safety record. It survives a simulated crash; `startReplica` is the restart. The
 * node's store is LevelDB (src/node/store) and recovers a replica the same way.
 */
export class MemoryReplicaStore {
  readonly blocks: CertifiedBlock[]
  safety: SafetyRecord | undefined = undefined

  /** @param preloaded blocks every node holds at the start, from height 1, in order */
  constructor(preloaded: readonly CertifiedBlock[] = []) {
    this.blocks = [...preloaded]
  }

  get head(): number {
    return this.blocks.length
  }

  /** The committed block at `height` (for `serveSync`). */
  read(height: number): CertifiedBlock | undefined {
    return this.blocks[height - 1]
  }

  append(block: Block, cert: Certificate): void {
    this.blocks.push({ block, cert })
    assert(this.blocks.length === block.header.height, 'the store holds every height once')
  }

  /** A replica (re)started from what this store holds. */
  startReplica(options: {
    readonly genesis: Genesis
    readonly index: number
    readonly secretKey: Uint8Array
    readonly now: number
    readonly limits?: Partial<ConsensusLimits>
    readonly relayTxs?: boolean
  }): Replica {
    const last = this.blocks.at(-1)
    return new Replica({
      index: options.index,
      secretKey: options.secretKey,
      state: replayBlocks(options.genesis, this.blocks),
      headCert: last ? last.cert : null,
      ...(this.safety ? { safety: this.safety } : {}),
      now: options.now,
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.relayTxs !== undefined ? { relayTxs: options.relayTxs } : {}),
    })
  }
}

/** The state after `blocks`, applied without signature checks (they were checked when stored). */
export function replayBlocks(genesis: Genesis, blocks: readonly CertifiedBlock[]): LedgerState {
  const state = new LedgerState(genesis)
  for (const { block } of blocks) {
    const next = applyBlock(state, block, { verifySignatures: false })
    assert(next.ok, 'a stored block applies to the stored chain')
    next.value.mergeIntoParent()
  }
  return state
}
