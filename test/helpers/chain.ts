import { type Block, type BlockHeader, makeBlock } from '../../src/ledger/block.js'
import { type Certificate, certify } from '../../src/ledger/certificate.js'
import { type DevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import { LedgerState } from '../../src/ledger/state.js'
import type { SignedTx } from '../../src/ledger/tx.js'
import { buildBlock } from '../../src/ledger/verify-block.js'

/**
 * Blocks for tests that feed a follower by hand: every way a test makes one goes through here,
 * so a change to the block header (a new field) changes one file.
 */

/**
 * A valid chain of `count` blocks on the dev chain's genesis, one device registration (by the
 * admin) each, certified by the first three validators.
 */
export function certifiedChain(
  chain: DevChain,
  count: number,
  label: string,
): { block: Block; cert: Certificate }[] {
  const g = chain.genesis
  const f = new TxFactory(chain)
  const quorum = new Map(chain.validators.slice(0, 3).map((v, i) => [i, v.secretKey]))
  const state = new LedgerState(g)
  const out: { block: Block; cert: Certificate }[] = []
  let prev: Block | null = null
  for (let h = 1; h <= count; h++) {
    const tx = f.registerDevice(chain.key(`${label}/${h}`).publicKey, 'gw', 'rev-a', [], chain.admin)
    const built = buildBlock(
      state,
      { chain: g.chainId, height: h, prev: prev?.hash ?? null, time: g.time + h * 100, proposer: h % 4 },
      [tx],
    )
    if (!built.ok) throw new Error(built.error.message)
    built.value.state.mergeIntoParent()
    const { block } = built.value
    out.push({ block, cert: certify(g, quorum, h, 0, block.hash) })
    prev = block
  }
  return out
}

/**
 * A block with any header the caller likes (forgeries: nothing about it need be true; the
 * state root is zeros unless given).
 */
export function anyBlock(
  header: Omit<BlockHeader, 'txRoot' | 'txCount' | 'stateRoot'> & { stateRoot?: Uint8Array },
  txs: readonly SignedTx[],
): Block {
  return makeBlock({ ...header, stateRoot: header.stateRoot ?? new Uint8Array(32) }, txs)
}
