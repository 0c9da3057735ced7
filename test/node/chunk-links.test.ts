import { afterEach, describe, expect, it } from 'vitest'
import { cidOf } from '../../src/codec/cid.js'
import { ChunkLinks } from '../../src/node/chunk-links.js'
import type { Host } from '../../src/node/host.js'
import { makeLogger } from '../../src/node/log.js'
import type { ChunkMessage } from '../../src/transfer/messages.js'
import { eventually } from '../helpers/cluster.js'
import { loopbackHost } from '../helpers/hosts.js'

const PROTOCOL = '/fwmesh/test/chunks/1'
const manifest = cidOf({ links: 1 })
const started: Array<{ host: Host; links: ChunkLinks }> = []

async function node(seed: number) {
  const host = await loopbackHost(seed)
  const got: Array<{ from: string; msg: ChunkMessage }> = []
  const dropped: string[] = []
  const links = new ChunkLinks(
    host,
    PROTOCOL,
    {
      onMessage: async (from, msg) => {
        got.push({ from, msg })
      },
      onDropped: (peer) => dropped.push(peer),
    },
    makeLogger('silent'),
  )
  await links.start()
  started.push({ host, links })
  return { host, links, got, dropped }
}

describe('node: chunk links (real libp2p on loopback)', () => {
  afterEach(async () => {
    for (const { host, links } of started.splice(0)) {
      links.stop()
      await host.stop()
    }
  })

  it('two neighbours that open their links at the same moment keep them, and every message arrives', async () => {
    const a = await node(81)
    const b = await node(82)
    await a.host.dial(b.host.getMultiaddrs()[0]!)
    await eventually('both sides see the connection', () =>
      b.host.getConnections(a.host.peerId).length > 0 ? true : undefined,
    )
    const [pa, pb] = [a.host.peerId.toString(), b.host.peerId.toString()]
    // Both send first, in the same turn: each opens a stream to the other.
    await Promise.all([
      a.links.send(pb, { type: 'request', manifest, chunk: 1 }),
      b.links.send(pa, { type: 'request', manifest, chunk: 2 }),
    ])
    await eventually('both first messages arrive', () => (a.got.length > 0 && b.got.length > 0) || undefined)
    // Then a second round on whatever links they kept.
    await Promise.all([
      a.links.send(pb, { type: 'cancel', manifest, chunk: 1 }),
      b.links.send(pa, { type: 'cancel', manifest, chunk: 2 }),
    ])
    await eventually('both second messages arrive', () => (a.got.length > 1 && b.got.length > 1) || undefined)
    expect(a.got.map((g) => g.msg.type)).toEqual(['request', 'cancel'])
    expect(b.got.map((g) => g.msg.type)).toEqual(['request', 'cancel'])
    expect(a.dropped, 'a dropped no link').toEqual([])
    expect(b.dropped, 'b dropped no link').toEqual([])
  })
})
