import { assert } from '../codec/assert.js'
import { type Block, makeBlock } from '../ledger/block.js'
import { applyInPlace } from '../ledger/rules.js'
import { type BlockFault, checkBlockStructure, checkStateRoot } from '../ledger/verify-block.js'
import type { PrePrepare } from './messages.js'
import { type ProposalHooks, type ReplicaContext, slotKey, type Validated } from './replica-context.js'

/**
 * Blocks of the normal case: what the primary proposes and when, and the checks every
 * replica runs on a proposal before it votes (structure, time, the NEW-VIEW's decision, every
 * ledger rule), each block checked once and its resulting state kept until it commits.
 */
export class Proposals implements ProposalHooks {
  private readonly checked = new Map<string, Validated>()
  /** The (height, view) at which this primary may not propose (it signed another block there). */
  private proposalBlocked: string | null = null

  constructor(private readonly c: ReplicaContext) {}

  get validatedCount(): number {
    return this.checked.size
  }

  validated(hash: string): Validated | undefined {
    return this.checked.get(hash)
  }

  onCommitted(): void {
    this.checked.clear()
  }

  checkProposal(pp: PrePrepare): { code: string; message: string } | undefined {
    const block = pp.block
    const { now, limits } = this.c
    const d = this.c.rules.decision
    if (d && d.view === pp.view && d.height === pp.height && d.block !== null) {
      if (block.hashString !== d.block) {
        return {
          code: 'new-view-violated',
          message: `view ${pp.view} must re-propose the prepared block at height ${pp.height}`,
        }
      }
    } else if (block.header.proposer !== pp.validator) {
      return { code: 'bad-proposer', message: `a new block must name its proposer ${pp.validator}` }
    } else if (block.header.time < now - limits.blockTimeLagMaxMs) {
      return { code: 'stale-block-time', message: `block time ${block.header.time} is too far behind ${now}` }
    }
    if (block.header.time > now + limits.blockTimeDriftMaxMs) {
      return { code: 'future-block', message: `block time ${block.header.time} is too far ahead of ${now}` }
    }
    const fault = this.validate(block)
    return fault ? { code: fault.code, message: fault.message } : undefined
  }

  validate(block: Block): BlockFault | undefined {
    if (this.checked.has(block.hashString)) return undefined
    const { genesis, state, mempool } = this.c
    const structural = checkBlockStructure(genesis, state.head, block)
    if (structural) return structural
    const draft = state.derive()
    const ctx = { height: block.header.height, time: block.header.time }
    for (const [index, tx] of block.txs.entries()) {
      // A transaction in our mempool had its signature checked on admission; the id covers
      // only the body, so the signature bytes must be the ones we checked.
      const pending = mempool.get(tx.idString)
      const checked = pending !== undefined && Buffer.compare(pending.signature, tx.signature) === 0
      const rejection = applyInPlace(draft, tx, ctx, { verifySignatures: !checked })
      if (rejection) {
        return {
          code: 'rejected-tx',
          message: `transaction ${index} of block ${block.header.height} is invalid: ${rejection.message}`,
          index,
          rejection,
        }
      }
    }
    // The header commits the state after the block; a primary that lies about it (or runs
    // other rules) is refused like one that lies about a transaction.
    const rootFault = checkStateRoot(draft, block)
    if (rootFault) return rootFault
    draft.head = { height: block.header.height, hash: block.hashString, time: block.header.time }
    this.checked.set(block.hashString, { block, draft })
    return undefined
  }

  /** When the primary should propose next, if it has nothing in flight. */
  proposalDueAt(): number | undefined {
    const c = this.c
    if (!c.isPrimary() || c.changing) return undefined
    const key = slotKey(c.head + 1, c.view)
    if (c.normal.currentSlot()?.prePrepare || this.proposalBlocked === key) return undefined
    const headTime = c.state.head.time
    const d = c.rules.decision
    if (d && d.view === c.view && d.block !== null) {
      if (d.height !== c.head + 1) return undefined
      return c.views.carriedBlock(d.block) ? c.now : undefined
    }
    if (d && d.view === c.view && d.height > c.head + 1) return undefined
    if (c.mempool.size > 0) return Math.max(headTime + c.genesis.params.blockIntervalMs, c.lastProgressAt)
    return headTime + c.genesis.params.emptyBlockIntervalMs
  }

  maybePropose(): void {
    const c = this.c
    const due = this.proposalDueAt()
    if (due === undefined || due > c.now) return
    const height = c.head + 1
    const d = c.rules.decision
    let block: Block
    if (d && d.view === c.view && d.height === height && d.block !== null) {
      const carried = c.views.carriedBlock(d.block)
      // Every view change that reports a prepared block attaches it; one that did not came
      // from a faulty validator, and then this view times out like a silent primary.
      if (!carried || this.validate(carried)) {
        this.proposalBlocked = slotKey(height, c.view)
        return
      }
      block = carried
    } else if (d && d.view === c.view && d.height > height) {
      return // behind the new view's first height: sync first
    } else {
      block = this.makeProposal(height)
    }
    const signed = c.rules.signPrePrepare(height, c.view, block)
    if (!signed.ok) {
      // After a restart: we proposed another block here before. The view will time out.
      this.proposalBlocked = slotKey(height, c.view)
      return
    }
    const sig = signed.value
    c.persist()
    const pp: PrePrepare = { type: 'pre-prepare', view: c.view, height, validator: c.index, block, sig }
    const s = c.normal.slot(height, c.view)
    s.prePrepare = pp
    s.accepted = true
    s.prepares.set(c.index, { block: block.hashString, cid: block.hash, sig })
    c.push({ type: 'broadcast', msg: pp })
    c.lastRetransmitAt = c.now
    c.normal.progressSlot(s)
  }

  /** A new block of mempool transactions at `height`, checked and kept as validated. */
  private makeProposal(height: number): Block {
    const c = this.c
    const time = Math.max(c.now, c.state.head.time)
    const { txs, draft } = c.mempool.take(
      c.state,
      { height, time },
      c.genesis.params.blockTxsMax,
      c.genesis.params.blockBytesMax - BLOCK_HEADER_ROOM_BYTES,
    )
    const block = makeBlock(
      {
        chain: c.genesis.chainId,
        height,
        prev: c.headCert ? c.headCert.block : null,
        time,
        proposer: c.index,
        stateRoot: draft.stateRoot(),
      },
      txs,
    )
    const fault = checkBlockStructure(c.genesis, c.state.head, block)
    assert(fault === undefined, `the primary's own block is well formed: ${fault?.message}`)
    draft.head = { height, hash: block.hashString, time }
    this.checked.set(block.hashString, { block, draft })
    return block
  }
}

/** Room kept in a block for its header and framing besides the transactions. */
const BLOCK_HEADER_ROOM_BYTES = 1024
