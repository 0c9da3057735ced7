import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort } from '../../scripts/fleet.js'
import { keyPairFromSeed } from '../../src/crypto/ed25519.js'
import type { Host, HostOptions } from '../../src/node/host.js'
import { eventually } from '../helpers/cluster.js'
import { loopbackHost } from '../helpers/hosts.js'

const started: Host[] = []
async function host(seed: number, extra: Partial<HostOptions> = {}): Promise<Host> {
  const h = await loopbackHost(seed, extra)
  started.push(h)
  return h
}

describe('node: connections heal (real libp2p, loopback)', () => {
  afterEach(async () => {
    await Promise.all(started.splice(0).map((h) => h.stop()))
  })

  it('a node whose bootstrap peer is down at start joins once that peer comes up', async () => {
    // The bootstrap peer's identity and port are fixed first, so its address is known before it runs.
    const seed = 61
    const peerId = peerIdFromPublicKey(
      publicKeyFromRaw(keyPairFromSeed(new Uint8Array(32).fill(seed)).publicKey),
    )
    const port = await freePort()
    const failed: string[] = []
    const follower = await host(62, {
      bootstrap: [`/ip4/127.0.0.1/tcp/${port}/p2p/${peerId}`],
      onDiscoveryDialError: (peer) => failed.push(peer),
    })
    await eventually(
      'a failed dial to the bootstrap peer',
      () => failed.includes(peerId.toString()) || undefined,
    )
    expect(follower.getConnections()).toHaveLength(0)

    const bootstrapPeer = await host(seed, { listen: [`/ip4/127.0.0.1/tcp/${port}`] })
    expect(bootstrapPeer.peerId.equals(peerId)).toBe(true)
    await eventually('the follower connects to the bootstrap peer', () =>
      follower.getConnections(peerId).length > 0 ? true : undefined,
    )
  })

  it('a lost peer is redialled when it comes back, though it does not know us', async () => {
    const port = await freePort()
    const failed: string[] = []
    const a = await host(63, { onDiscoveryDialError: (peer) => failed.push(peer) })
    let b = await host(64, { listen: [`/ip4/127.0.0.1/tcp/${port}`] })
    await a.dial(b.getMultiaddrs()[0]!)
    await b.stop()
    await eventually(
      'a fails to redial b while b is down',
      () => failed.includes(b.peerId.toString()) || undefined,
    )
    // The same identity and port, with an empty peer store: only a can restore the connection.
    b = await host(64, { listen: [`/ip4/127.0.0.1/tcp/${port}`] })
    await eventually('a reconnects to b', () => a.getConnections(b.peerId).length > 0 || undefined)
  })
})
