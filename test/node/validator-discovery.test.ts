import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/codec/bytes.js'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import { peerIdOf } from '../../src/node/peer-id.js'
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js'

/**
 * An operator gives each validator one address, the first validator's (docs/operator-guide.md).
 * The validators find each other from there: each knows the others' keys from the genesis, and
 * learns their addresses by peer exchange. Before, they stalled unless every validator was given
 * every other validator's address.
 */
describe('node: validators that are told of one validator find the whole committee', () => {
  let cluster: Cluster
  beforeAll(async () => {
    cluster = await startCluster({ seed: 'validator-discovery', bootstrap: 'first' })
  }, 90_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it('connects every validator to every other one, and commits', async () => {
    const peerIds = cluster.chain.validators.map((v) => peerIdOf(v.publicKey))
    await eventually(
      'every validator is connected to the other three',
      () =>
        cluster.validators.every((node, i) =>
          peerIds.every(
            (id, j) => i === j || node.host.getConnections().some((c) => c.remotePeer.toString() === id),
          ),
        ) || undefined,
    )
    const f = new TxFactory(cluster.chain)
    const txs = f.bootstrap()
    // Validator 3 was told only of validator 0; it relays what it is given to the primary.
    for (const tx of txs)
      expect(cluster.validators[3]!.ledger.submit(tx, 'local').status).not.toBe('rejected')
    await eventually(
      'the transactions commit on every validator',
      () =>
        cluster.validators.every((v) => txs.every((tx) => v.ledger.ledger.txs.has(tx.idString))) || undefined,
    )
    expect(
      cluster.validators.map((v) =>
        v.ledger.ledger.roles.has(`publisher/${toHex(cluster.chain.publisher.publicKey)}`),
      ),
    ).toEqual([true, true, true, true])
  })
})
