/**
 * Device progress gossip (issue 20 part 6) over real libp2p on 127.0.0.1: a neighbour of a
 * follower publishes progress messages on `fwmesh/<chain>/progress`. The follower keeps and
 * forwards only a registered device's own, correctly signed, timely message; a forgery, an
 * oversized message, garbage or one for another chain is rejected (counted against the sender),
 * and an unregistered device's, a future or an old one is dropped without penalty. A third peer
 * that hears only through the follower receives the one good message.
 */
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeProgress, type ProgressBody } from '../../src/agent/progress.js'
import { toHex } from '../../src/codec/bytes.js'
import { cidOf } from '../../src/codec/cid.js'
import {
  PROGRESS_AGE_MS_MAX,
  PROGRESS_FUTURE_MS_MAX,
  PROGRESS_MESSAGE_BYTES_MAX,
} from '../../src/constants.js'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import type { Node } from '../../src/node/daemon.js'
import { gossipTopics, type Host } from '../../src/node/host.js'
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js'
import { loopbackHost } from '../helpers/hosts.js'
import { commitAll } from '../helpers/release.js'

const digest = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')

describe('node: device progress gossip is checked before it spreads (real libp2p, loopback)', () => {
  let cluster: Cluster
  let follower: Node
  let topic: string
  const hosts: Host[] = []
  const heard: string[] = []

  beforeAll(async () => {
    cluster = await startCluster({ seed: 'gossip-progress', validators: 1 })
    topic = gossipTopics(cluster.chain.genesis.chainId).progress
    follower = await cluster.addFollower({ name: 'follower' })
    const f = new TxFactory(cluster.chain)
    await commitAll(cluster.validators[0]!, [
      ...f.bootstrap(),
      f.registerDevice(cluster.chain.key('device').publicKey, 'gw', 'rev-a'),
    ])
    await eventually('the follower knows the device', () =>
      follower.ledger.ledger.device(cluster.chain.key('device').publicKey) ? true : undefined,
    )
    const third = await loopbackHost(81)
    hosts.push(third)
    third.services.pubsub.addEventListener('gossipsub:message', (event) => {
      if (event.detail.msg.topic === topic) heard.push(digest(event.detail.msg.data))
    })
    third.services.pubsub.subscribe(topic)
    await third.dial(follower.host.getMultiaddrs()[0]!)
  }, 60_000)

  afterAll(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.stop()))
    await cluster?.stop()
  })

  it('keeps and forwards a registered device’s own message only; forgeries are rejected, the rest ignored', async () => {
    const attacker = await loopbackHost(82)
    hosts.push(attacker)
    attacker.services.pubsub.subscribe(topic)
    await attacker.dial(follower.host.getMultiaddrs()[0]!)
    const followerId = follower.host.peerId.toString()
    await eventually(
      'the attacker sees the follower subscribed',
      () =>
        attacker.services.pubsub.getSubscribers(topic).some((p) => p.toString() === followerId) || undefined,
    )

    const device = cluster.chain.key('device')
    const stranger = cluster.chain.key('stranger')
    const release = cidOf({ release: 'progress-test' })
    const now = Date.now()
    const body = (over: Partial<ProgressBody> = {}): ProgressBody => ({
      chain: cluster.chain.genesis.chainId,
      release,
      device: device.publicKey,
      state: 'downloading',
      percent: 30,
      time: now,
      ...over,
    })
    const rejected = [
      encodeProgress(body(), stranger.secretKey), // signed by another key than the device's
      encodeProgress(body({ chain: 'other-chain' }), device.secretKey),
      new Uint8Array(PROGRESS_MESSAGE_BYTES_MAX + 1),
      new Uint8Array([0xa1, 0x61, 0x78, 0x01]), // {"x": 1}
    ]
    const ignored = [
      encodeProgress(body({ device: stranger.publicKey }), stranger.secretKey), // not registered
      encodeProgress(body({ time: now + PROGRESS_FUTURE_MS_MAX + 60_000 }), device.secretKey),
      encodeProgress(body({ time: now - PROGRESS_AGE_MS_MAX - 60_000 }), device.secretKey),
    ]
    const good = encodeProgress(body({ percent: 60, time: now + 1 }), device.secretKey)
    const before = { ...follower.gossip.counts.progress }
    for (const data of [...rejected, ...ignored, good])
      await attacker.services.pubsub.publish(topic, data).catch(() => undefined)

    const kept = await eventually('the follower keeps the good message', () =>
      follower.progress.table.get(release.toString(), toHex(device.publicKey)),
    )
    expect(kept).toMatchObject({ state: 'downloading', percent: 60, time: now + 1 })
    await eventually('every message judged', () =>
      follower.gossip.counts.progress.accepted +
        follower.gossip.counts.progress.rejected +
        follower.gossip.counts.progress.ignored -
        (before.accepted + before.rejected + before.ignored) >=
      rejected.length + ignored.length + 1
        ? true
        : undefined,
    )
    const counts = follower.gossip.counts.progress
    expect(counts.rejected - before.rejected).toBe(rejected.length)
    expect(counts.ignored - before.ignored).toBe(ignored.length)
    expect(counts.accepted - before.accepted).toBe(1)
    expect(follower.progress.refused).toMatchObject({
      'bad-signature': 1,
      'wrong-chain': 1,
      'too-large': 1,
      malformed: 1,
      unregistered: 1,
      future: 1,
      'too-old': 1,
    })
    expect(follower.progress.table.size, 'nothing but the good message is kept').toBe(1)
    await eventually('the third peer hears the good message', () =>
      heard.includes(digest(good)) ? true : undefined,
    )
    const bad = new Set([...rejected, ...ignored].map(digest))
    expect(
      heard.filter((d) => bad.has(d)),
      'nothing refused was forwarded',
    ).toEqual([])
    // Gossipsub refreshes scores on its heartbeat: the forger's falls below zero.
    await eventually('the forger lost score', () =>
      follower.gossip.score(attacker.peerId) < 0 ? true : undefined,
    )
  })
})
