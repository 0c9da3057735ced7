import type { PeerInfo } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import { keyPairFromSeed } from '../../src/crypto/ed25519.js'
import { createHost, type Host, type HostOptions } from '../../src/node/host.js'
import { eventually } from '../helpers/cluster.js'

const started: Host[] = []
async function host(seed: number, extra: Partial<HostOptions> = {}): Promise<Host> {
  const h = await createHost({
    keys: keyPairFromSeed(new Uint8Array(32).fill(seed)),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    mdns: false,
    ...extra,
  })
  started.push(h)
  return h
}

/** What a discovery module (mDNS) reports when it finds a peer on the LAN. */
function discover(node: Host, peer: PeerInfo): void {
  node.dispatchEvent(new CustomEvent<PeerInfo>('peer:discovery', { detail: peer }))
}

describe('node: peers found by discovery are dialled (real libp2p, loopback)', () => {
  afterEach(async () => {
    await Promise.all(started.splice(0).map((h) => h.stop()))
  })

  it('a discovered peer is connected to without being in the bootstrap list', async () => {
    const a = await host(41)
    const b = await host(42)
    discover(a, { id: b.peerId, multiaddrs: b.getMultiaddrs() })
    await eventually('a connects to b', () => a.getConnections(b.peerId).length > 0 || undefined)
    // The dialler's side of a connection opens before the listener's (by over 100 ms on a loaded machine).
    await eventually('b sees the connection', () => b.getConnections(a.peerId).length > 0 || undefined)
  })

  it('a discovered peer that cannot be reached is reported, not thrown', async () => {
    const failed: string[] = []
    const a = await host(43, { onDiscoveryDialError: (peer) => failed.push(peer) })
    const gone = await host(44)
    const { peerId, addresses } = { peerId: gone.peerId, addresses: gone.getMultiaddrs() }
    await gone.stop()
    discover(a, { id: peerId, multiaddrs: addresses })
    await eventually('the failed dial is reported', () => failed.length > 0 || undefined)
    // One report per discovery; the peer store reporting the dialled peer anew may add one more.
    expect(new Set(failed)).toEqual(new Set([peerId.toString()]))
    expect(a.getConnections()).toHaveLength(0)
  })

  it('no dial once the node has its limit of connections', async () => {
    const a = await host(45, { discoveryDialConnectionsMax: 1 })
    const b = await host(46)
    const c = await host(47)
    await a.dial(b.getMultiaddrs()[0]!)
    discover(a, { id: c.peerId, multiaddrs: c.getMultiaddrs() })
    // A dial would have connected within this time on loopback (the first test's case).
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(a.getConnections(c.peerId)).toHaveLength(0)
  })
})
