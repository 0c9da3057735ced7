import { afterEach, describe, expect, it } from 'vitest'
import { GOSSIP_HISTORY_HEARTBEATS, GOSSIP_LAZY_PEERS } from '../../src/constants.js'
import { gossipTopics, type Host } from '../../src/node/host.js'
import { eventually } from '../helpers/cluster.js'
import { loopbackHost } from '../helpers/hosts.js'

const started: Host[] = []
async function host(seed: number): Promise<Host> {
  const h = await loopbackHost(seed)
  started.push(h)
  return h
}

interface Delivery {
  from: string
  data: Uint8Array
  type: string
}

function deliveries(h: Host): Delivery[] {
  const got: Delivery[] = []
  h.services.pubsub.addEventListener('gossipsub:message', (event) => {
    const { propagationSource, msg } = event.detail
    got.push({ from: propagationSource.toString(), data: msg.data, type: msg.type })
  })
  return got
}

describe('node: gossip is content-addressed and unsigned (real libp2p, loopback)', () => {
  afterEach(async () => {
    await Promise.all(started.splice(0).map((h) => h.stop()))
  })

  it('a message is advertised (IHAVE) for one heartbeat, to three peers outside the mesh', async () => {
    const h = await host(54)
    const opts = (h.services.pubsub as unknown as { opts: { mcacheGossip: number; Dlazy: number } }).opts
    expect(opts.mcacheGossip, 'heartbeats a message is advertised in').toBe(GOSSIP_HISTORY_HEARTBEATS)
    expect(opts.Dlazy, 'peers each advertisement goes to').toBe(GOSSIP_LAZY_PEERS)
    expect([GOSSIP_HISTORY_HEARTBEATS, GOSSIP_LAZY_PEERS]).toEqual([1, 3])
  })

  it('one block announced by two validators reaches a follower once, naming the neighbour that sent it', async () => {
    const topic = gossipTopics('test').block
    const [v1, v2, follower] = [await host(51), await host(52), await host(53)]
    await v1.dial(follower.getMultiaddrs()[0]!)
    await v2.dial(follower.getMultiaddrs()[0]!)
    for (const h of [v1, v2, follower]) h.services.pubsub.subscribe(topic)
    const got = deliveries(follower)
    await eventually(
      'both validators see the follower subscribed',
      () => [v1, v2].every((v) => v.services.pubsub.getSubscribers(topic).length > 0) || undefined,
    )
    const block = new Uint8Array([1, 2, 3, 4])
    await v1.services.pubsub.publish(topic, block)
    await eventually('the follower receives the block', () => got.length > 0 || undefined)
    // The second validator announces the same bytes: the same message id, so a duplicate.
    await v2.services.pubsub.publish(topic, block).catch(() => undefined)
    const other = new Uint8Array([9])
    await v2.services.pubsub.publish(topic, other)
    await eventually('a later, different message arrives', () => got.length > 1 || undefined)
    expect(got.map((d) => [...d.data])).toEqual([[1, 2, 3, 4], [9]])
    expect(got.map((d) => d.type)).toEqual(['unsigned', 'unsigned'])
    expect(got.map((d) => d.from)).toEqual([v1.peerId.toString(), v2.peerId.toString()])
  })
})
