import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NodeClient } from '../../src/cli/api-client.js'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js'

describe('node: a ledger over real libp2p (4 validators and 2 followers on loopback)', () => {
  let cluster: Cluster
  beforeAll(async () => {
    cluster = await startCluster({ seed: 'ledger-cluster', followers: 2 })
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it('commits transactions submitted to any node, and every node reaches the same head', async () => {
    const f = new TxFactory(cluster.chain)
    const viaValidator = new NodeClient(`http://127.0.0.1:${cluster.validators[1]!.apiPort}`)
    for (const tx of f.bootstrap()) {
      const r = await viaValidator.submit(tx, 20_000)
      expect(r.status, tx.body.type).toBe('committed')
    }
    // A follower relays by gossip; it commits all the same.
    const device = cluster.chain.key('device-1')
    const viaFollower = new NodeClient(`http://127.0.0.1:${cluster.followers[0]!.apiPort}`)
    const registered = await viaFollower.submit(f.registerDevice(device.publicKey, 'gw', 'rev-a'), 20_000)
    expect(registered.status).toBe('committed')

    const all = [...cluster.validators, ...cluster.followers]
    await eventually(
      'every node knows the device',
      () => all.every((n) => n.ledger.ledger.device(device.publicKey) !== undefined) || undefined,
    )
    const height = registered.height!
    await eventually(
      'every node has the block',
      () => all.every((n) => n.store.head.height >= height) || undefined,
    )
    const hashes = await Promise.all(all.map(async (n) => (await n.store.block(height))?.block.hashString))
    expect(new Set(hashes).size, 'one block at that height everywhere').toBe(1)
  })

  it('tells a follower’s agent of a block when its certificate checks, before the store has written it', async () => {
    const f = new TxFactory(cluster.chain)
    const follower = cluster.followers[1]!
    const seen: string[] = []
    const certified = (block: { header: { height: number } }) =>
      seen.push(
        `certified ${block.header.height} stored ${follower.store.head.height >= block.header.height}`,
      )
    follower.ledger.on('certified', certified)
    try {
      const tx = f.registerDevice(cluster.chain.key('device-certified').publicKey, 'gw', 'rev-a')
      const r = await new NodeClient(`http://127.0.0.1:${cluster.validators[0]!.apiPort}`).submit(tx, 20_000)
      expect(r.status).toBe('committed')
      await eventually(
        'the follower stores the block',
        () => follower.store.head.height >= r.height! || undefined,
      )
      expect(seen, 'announced once, before the store held it').toContain(`certified ${r.height} stored false`)
    } finally {
      follower.ledger.off('certified', certified)
    }
  })

  it('lets a validator’s channels reuse the transactions its mempool holds instead of decoding them', async () => {
    const f = new TxFactory(cluster.chain)
    const validator = cluster.validators[2]!
    const tx = f.registerDevice(cluster.chain.key('device-known').publicKey, 'gw', 'rev-a')
    expect(validator.ledger.knownTx(tx.bytes)).toBeUndefined()
    expect(validator.ledger.submit(tx, 'local').status).toBe('pending')
    // Synchronously after admission: nothing can have committed it yet.
    expect(validator.ledger.knownTx(tx.bytes)).toBe(tx)
    expect(cluster.followers[0]!.ledger.knownTx(tx.bytes), 'a follower has no mempool').toBeUndefined()
    expect((await validator.ledger.waitForCommit(tx.idString, 20_000)).status).toBe('committed')
  })

  it('refuses a transaction the rules refuse, with its code in the API answer and in status', async () => {
    const f = new TxFactory(cluster.chain)
    const outsider = cluster.chain.key('outsider')
    const client = new NodeClient(`http://127.0.0.1:${cluster.followers[1]!.apiPort}`)
    await expect(
      client.submit(f.registerDevice(outsider.publicKey, 'gw', 'x', [], outsider)),
    ).rejects.toMatchObject({ exitCode: 4 })
    const status = await client.status()
    expect((status.rejections as Array<{ code: string }>).map((r) => r.code)).toContain('signer.unknown')
  })

  it('keeps committing empty blocks, so followers see a live chain', async () => {
    const follower = cluster.followers[1]!
    const before = follower.store.head.height
    await eventually(
      'a newer block on the follower',
      () => follower.store.head.height > before || undefined,
      15_000,
    )
    expect(follower.status().live).toBe(true)
  })
})
