import { type Block, makeBlock } from '../../src/ledger/block.js'
import { type Certificate, certify } from '../../src/ledger/certificate.js'
import { type DevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import type { SignedTx } from '../../src/ledger/tx.js'

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
  const out: { block: Block; cert: Certificate }[] = []
  let prev: Block | null = null
  for (let h = 1; h <= count; h++) {
    const tx = f.registerDevice(chain.key(`${label}/${h}`).publicKey, 'gw', 'rev-a', [], chain.admin)
    const block = makeBlock(
      { chain: g.chainId, height: h, prev: prev?.hash ?? null, time: g.time + h * 100, proposer: h % 4 },
      [tx],
    )
    out.push({ block, cert: certify(g, quorum, h, 0, block.hash) })
    prev = block
  }
  return out
}

/** A block with any header the caller likes (forgeries: nothing about it need be true). */
export function anyBlock(
  header: { chain: string; height: number; prev: Block['hash'] | null; time: number; proposer: number },
  txs: readonly SignedTx[],
): Block {
  return makeBlock(header, txs)
}
