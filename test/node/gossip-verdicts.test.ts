/**
 * What a follower's ledger driver tells gossip validation about each block and transaction
 * (LedgerDriver.gossipBlock / gossipTx), and that an honest block at the head has its
 * certificate verified once on its way from gossip through the follower into the store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { certify } from '../../src/ledger/certificate.js'
import { makeDevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import { assembleTx } from '../../src/ledger/tx.js'
import { certificateChecks } from '../../src/ledger/verify-block.js'
import { LedgerDriver } from '../../src/node/ledger-driver.js'
import { makeLogger } from '../../src/node/log.js'
import { LevelLedgerStore } from '../../src/node/store/level-ledger-store.js'
import { anyBlock, certifiedChain } from '../helpers/chain.js'
import { eventually } from '../helpers/cluster.js'
import { tempDir } from '../helpers/tmp.js'

const chain = makeDevChain({ seed: 'gossip-verdicts', validators: 4 })
const g = chain.genesis
const f = new TxFactory(chain)
const quorum = new Map(chain.validators.slice(0, 3).map((v, i) => [i, v.secretKey]))

describe('node: gossip verdicts of a follower', () => {
  let store: LevelLedgerStore
  let driver: LedgerDriver
  let cleanup: () => Promise<void>
  const blocks = certifiedChain(chain, 6, 'gv')

  beforeAll(async () => {
    const tmp = await tempDir('gossip-verdicts')
    cleanup = tmp.cleanup
    const opened = await LevelLedgerStore.open(tmp.dir, g)
    if (!opened.ok) throw new Error(opened.error.message)
    store = opened.value
    driver = await LedgerDriver.follower({
      store,
      syncFrom: async () => null,
      log: makeLogger('silent'),
      maxChainAgeMs: 60_000,
    })
  })
  afterAll(async () => {
    await driver?.stop()
    await store?.close()
    await cleanup?.()
  })

  it('an honest block at the head: accepted, applied, stored, its certificate verified once', async () => {
    const before = { ...certificateChecks }
    expect(driver.gossipBlock('honest', blocks[0]!.block, blocks[0]!.cert)).toBe('accept')
    await eventually('the store holds the block', () => (store.head.height === 1 ? true : undefined))
    expect(certificateChecks.verified - before.verified, 'verified once').toBe(1)
    expect(certificateChecks.reused - before.reused, 'the follower and the store reuse it').toBe(2)
  })

  it('a block at or below the head: ignored, unchecked', () => {
    const before = { ...certificateChecks }
    expect(driver.gossipBlock('late', blocks[0]!.block, blocks[0]!.cert)).toBe('ignore')
    const forgedOld = { ...blocks[0]!.cert, votes: [{ validator: 0, sig: new Uint8Array(64) }] }
    expect(driver.gossipBlock('late', blocks[0]!.block, forgedOld)).toBe('ignore')
    expect(certificateChecks).toEqual(before)
  })

  it('forged blocks at any height: rejected, and nothing is held', () => {
    const { block, cert } = blocks[3]!
    const badSig = { ...cert, votes: cert.votes.map((v) => ({ ...v, sig: new Uint8Array(64).fill(7) })) }
    expect(driver.gossipBlock('mallory', block, badSig)).toBe('reject')
    expect(driver.gossipBlock('mallory', blocks[2]!.block, cert), 'a certificate of another block').toBe(
      'reject',
    )
    const tooFew = certify(g, new Map([...quorum].slice(0, 2)), 4, 0, block.hash)
    expect(driver.gossipBlock('mallory', block, tooFew)).toBe('reject')
    const otherChain = anyBlock({ ...block.header, chain: 'elsewhere' }, block.txs)
    expect(driver.gossipBlock('mallory', otherChain, certify(g, quorum, 4, 0, otherChain.hash))).toBe(
      'reject',
    )
    const badProposer = anyBlock({ ...block.header, proposer: 9 }, block.txs)
    expect(driver.gossipBlock('mallory', badProposer, certify(g, quorum, 4, 0, badProposer.hash))).toBe(
      'reject',
    )
    const farAhead = anyBlock({ ...block.header, height: 10_000 }, block.txs)
    expect(driver.gossipBlock('mallory', farAhead, { ...cert, height: 10_000, block: farAhead.hash })).toBe(
      'reject',
    )
    expect(driver.pendingBytes).toBe(0)
  })

  it('a genuine block ahead of the head: accepted and held within the budget', () => {
    expect(driver.gossipBlock('ahead', blocks[4]!.block, blocks[4]!.cert)).toBe('accept')
    expect(driver.pendingBytes).toBe(blocks[4]!.block.bytes.byteLength)
  })

  it('transactions: a forged signature is rejected, a refusal by the rules ignored, a good one accepted', () => {
    const good = f.registerDevice(chain.key('gv/tx-good').publicKey, 'gw', 'rev-a', [], chain.admin)
    expect(driver.gossipTx(good)).toBe('accept')
    expect(driver.gossipTx(assembleTx(good.body, new Uint8Array(64).fill(3)))).toBe('reject')
    // Signed by a key the ledger does not know yet: maybe the sender is a block ahead of us.
    const unknown = f.registerDevice(
      chain.key('gv/tx-unknown').publicKey,
      'gw',
      'rev-a',
      [],
      chain.key('nobody'),
    )
    expect(driver.gossipTx(unknown)).toBe('ignore')
    // Already committed (at height 1).
    expect(driver.gossipTx(blocks[0]!.block.txs[0]!)).toBe('ignore')
  })
})
