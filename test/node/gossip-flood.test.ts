/**
 * Gossip is validated before it spreads (issue 19, part 2), over real libp2p on 127.0.0.1: a
 * hostile neighbour of a follower floods the block topic with forged blocks far ahead of the
 * head, then the transaction topic with forged transactions. The follower keeps none of them
 * (its buffer of blocks ahead stays within its byte budget, and empty), forwards none of them
 * to a third peer that hears only through it, graylists the flooder by gossipsub's score, and
 * goes on following the chain, forwarding honest blocks as before.
 */
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encode } from '../../src/consensus/index.js'
import { FOLLOWER_PENDING_BYTES_MAX, GOSSIP_GRAYLIST_THRESHOLD } from '../../src/constants.js'
import { keyPairFromSeed } from '../../src/crypto/ed25519.js'
import type { Block } from '../../src/ledger/block.js'
import type { Certificate } from '../../src/ledger/certificate.js'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import { assembleTx, type SignedTx } from '../../src/ledger/tx.js'
import type { Node } from '../../src/node/daemon.js'
import { GOSSIP_SCORE_THRESHOLDS, gossipTopics, type Host } from '../../src/node/host.js'
import { Prng } from '../../src/prng.js'
import { anyBlock } from '../helpers/chain.js'
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js'
import { loopbackHost } from '../helpers/hosts.js'

const FORGED_BLOCKS = 1000
/** Transactions in each forged block: about 60 KiB a block, 60 MB in all. */
const TXS_PER_BLOCK = 300

const digest = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')

describe('node: gossip is validated before it spreads (real libp2p, loopback)', () => {
  let cluster: Cluster
  let follower: Node
  let third: Host
  let chainId: string
  let topics: { tx: string; block: string }
  const hosts: Host[] = []
  /** What the third peer received, as SHA-256 digests of the message bytes. */
  const heard: { block: string[]; tx: string[] } = { block: [], tx: [] }

  beforeAll(async () => {
    cluster = await startCluster({ seed: 'gossip-flood', validators: 1 })
    chainId = cluster.chain.genesis.chainId
    topics = gossipTopics(chainId)
    follower = await cluster.addFollower({ name: 'follower' })
    // The third peer hears the chain only through the follower; it runs no validator of its
    // own, so it records every message the follower forwards to it.
    third = await loopbackHost(71)
    hosts.push(third)
    third.services.pubsub.addEventListener('gossipsub:message', (event) => {
      const { msg } = event.detail
      if (msg.topic === topics.block) heard.block.push(digest(msg.data))
      if (msg.topic === topics.tx) heard.tx.push(digest(msg.data))
    })
    third.services.pubsub.subscribe(topics.block)
    third.services.pubsub.subscribe(topics.tx)
    await third.dial(follower.host.getMultiaddrs()[0]!)
    await eventually('the follower forwards an honest block to the third peer', () =>
      heard.block.length > 0 ? true : undefined,
    )
  }, 60_000)

  afterAll(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.stop()))
    await cluster?.stop()
  })

  /** A neighbour of the follower alone, subscribed to our topics, ready to publish. */
  async function attacker(seed: number): Promise<Host> {
    const h = await loopbackHost(seed)
    hosts.push(h)
    h.services.pubsub.subscribe(topics.block)
    h.services.pubsub.subscribe(topics.tx)
    await h.dial(follower.host.getMultiaddrs()[0]!)
    const followerId = follower.host.peerId.toString()
    await eventually('the attacker sees the follower subscribed', () =>
      h.services.pubsub.getSubscribers(topics.block).some((p) => p.toString() === followerId) &&
      h.services.pubsub.getSubscribers(topics.tx).some((p) => p.toString() === followerId)
        ? true
        : undefined,
    )
    return h
  }

  /** Publishes every message, a few at a time, so the attacker's own stream keeps up. */
  async function flood(h: Host, topic: string, messages: readonly Uint8Array[]): Promise<void> {
    for (const [i, data] of messages.entries()) {
      await h.services.pubsub.publish(topic, data).catch(() => undefined)
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5))
    }
  }

  it(`${FORGED_BLOCKS} forged blocks far ahead: none kept, none forwarded, the flooder graylisted, commits go on`, async () => {
    const f = new TxFactory(cluster.chain)
    const prng = Prng.fromSeed('forged-blocks')
    // Well-formed transactions, so each forged block decodes and its root matches: only its
    // certificate is forged.
    const txs: SignedTx[] = []
    for (let i = 0; i < TXS_PER_BLOCK; i++)
      txs.push(f.registerDevice(cluster.chain.key(`flood/${i}`).publicKey, 'gw', 'rev-a'))
    const head = follower.store.head.height
    const forged: Uint8Array[] = []
    for (let i = 0; i < FORGED_BLOCKS; i++) {
      // Heights 2..201 past the head: all inside the window a follower holds blocks in.
      const height = head + 2 + (i % 200)
      const block: Block = anyBlock(
        {
          chain: chainId,
          height,
          prev: null,
          time: Date.now() + i,
          proposer: 0,
        },
        txs,
      )
      const cert: Certificate = {
        height,
        view: 0,
        block: block.hash,
        votes: [{ validator: 0, sig: prng.bytes(64) }],
      }
      forged.push(encode({ type: 'block', block, cert }))
    }
    const forgedDigests = new Set(forged.map(digest))
    expect(forgedDigests.size).toBe(FORGED_BLOCKS)
    const blockBytes = forged.reduce((n, d) => n + d.byteLength, 0)
    expect(blockBytes, 'the flood is more than the byte budget').toBeGreaterThan(FOLLOWER_PENDING_BYTES_MAX)

    const a = await attacker(72)
    const counts = follower.gossip.counts.block
    const before = { ...counts }
    const rssBefore = process.memoryUsage().rss
    await flood(a, topics.block, forged)
    await eventually('the follower has refused the forged blocks it looked at', () =>
      counts.rejected - before.rejected >= 3 ? true : undefined,
    )

    // The flooder is graylisted: below the threshold, everything it sends is dropped unread.
    await eventually('the flooder is graylisted', () =>
      follower.gossip.score(a.peerId) < GOSSIP_GRAYLIST_THRESHOLD ? true : undefined,
    )
    expect(GOSSIP_SCORE_THRESHOLDS.graylistThreshold).toBe(GOSSIP_GRAYLIST_THRESHOLD)
    // ...and the node's status names it (what an operator and the attack harness read).
    expect(follower.status().gossip.graylisted).toContain(a.peerId.toString())
    const rejected = counts.rejected - before.rejected
    expect(rejected, 'each refused block counted once').toBeLessThanOrEqual(FORGED_BLOCKS)

    const metrics = await follower.metrics()
    const exported = /fwmesh_gossip_messages_total\{topic="block",verdict="rejected"\} (\d+)/.exec(metrics)
    expect(Number(exported?.[1]), '/metrics counts the refused blocks').toBeGreaterThanOrEqual(rejected)
    expect(metrics).toMatch(/^fwmesh_blocks_ahead_bytes \d+$/m)

    // Nothing forged is kept ahead of the head: the budget accounting says none of it is held.
    expect(follower.ledger.pendingBytes).toBeLessThanOrEqual(FOLLOWER_PENDING_BYTES_MAX)
    await eventually('no block is held ahead of the head', () =>
      follower.ledger.pendingBytes === 0 ? true : undefined,
    )
    // Loosely: the process grew by far less than the flood (60 MB), most of which sat in the
    // attacker's own send buffers in this same process.
    const grown = process.memoryUsage().rss - rssBefore
    expect(grown, `RSS grew by ${(grown / 2 ** 20).toFixed(1)} MiB`).toBeLessThan(blockBytes * 2)

    // Commits go on, and honest blocks still reach the third peer through the follower.
    const now = follower.store.head.height
    const heardBefore = heard.block.length
    await eventually('the follower follows two more blocks', () =>
      follower.store.head.height >= now + 2 ? true : undefined,
    )
    await eventually('an honest block reaches the third peer after the flood', () =>
      heard.block.length > heardBefore ? true : undefined,
    )
    expect(
      heard.block.filter((d) => forgedDigests.has(d)),
      'no forged block was forwarded',
    ).toEqual([])
  }, 180_000)

  it('forged transactions: refused, not forwarded, and their sender graylisted', async () => {
    const f = new TxFactory(cluster.chain)
    const forged: Uint8Array[] = []
    for (let i = 0; i < 20; i++) {
      const honest = f.registerDevice(cluster.chain.key(`forged-tx/${i}`).publicKey, 'gw', 'rev-a')
      const tx = assembleTx(honest.body, new Uint8Array(64).fill(i + 1))
      forged.push(encode({ type: 'tx', tx }))
    }
    const forgedDigests = new Set(forged.map(digest))
    const a = await attacker(73)
    const counts = follower.gossip.counts.tx
    const before = counts.rejected
    await flood(a, topics.tx, forged)
    await eventually('the flooder is graylisted', () =>
      follower.gossip.score(a.peerId) < GOSSIP_GRAYLIST_THRESHOLD ? true : undefined,
    )
    expect(counts.rejected - before).toBeGreaterThanOrEqual(3)
    expect(
      heard.tx.filter((d) => forgedDigests.has(d)),
      'no forged transaction was forwarded',
    ).toEqual([])

    // An honest transaction from an honest neighbour is accepted and forwarded.
    const honestPeer = await attacker(74)
    const device = keyPairFromSeed(new Uint8Array(32).fill(75)).publicKey
    const tx = f.registerDevice(device, 'gw', 'rev-a', [], cluster.chain.admin)
    const data = encode({ type: 'tx', tx })
    await honestPeer.services.pubsub.publish(topics.tx, data)
    await eventually('the honest transaction reaches the third peer', () =>
      heard.tx.includes(digest(data)) ? true : undefined,
    )
    expect(follower.gossip.score(honestPeer.peerId)).toBe(0)
    expect((await follower.ledger.waitForCommit(tx.idString, 20_000)).status).toBe('committed')
  }, 60_000)
})
