import type { PeerInfo, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeCbor } from '../../src/codec/cbor.js'
import {
  PEER_EXCHANGE_ADDR_LENGTH_MAX,
  PEER_EXCHANGE_ADDRS_PER_PEER_MAX,
  PEER_EXCHANGE_PEERS_MAX,
  PEER_EXCHANGE_RESPONSE_BYTES_MAX,
} from '../../src/constants.js'
import { keyPairFromSeed } from '../../src/crypto/ed25519.js'
import { FrameError } from '../../src/node/framing.js'
import { createHost, type Host, type HostOptions, protocolIds } from '../../src/node/host.js'
import {
  decodePeerRequest,
  decodePeerResponse,
  encodePeerResponse,
  requestPeers,
} from '../../src/node/peer-exchange.js'
import { Prng } from '../../src/prng.js'
import { eventually } from '../helpers/cluster.js'

const CHAIN = 'px-test'
const PROTOCOL = protocolIds(CHAIN).peers

const started: Host[] = []
async function host(seed: number, extra: Partial<HostOptions> = {}): Promise<Host> {
  const h = await createHost({
    keys: keyPairFromSeed(new Uint8Array(32).fill(seed)),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    mdns: false,
    chainId: CHAIN,
    prng: Prng.fromSeed(`px-${seed}`),
    ...extra,
  })
  started.push(h)
  return h
}

const addressOf = (h: Host) => h.getMultiaddrs()[0]!.toString()
const connected = (a: Host, b: Host) => a.getConnections(b.peerId).length > 0

describe('node: peer exchange (real libp2p, loopback)', () => {
  afterEach(async () => {
    await Promise.all(started.splice(0).map((h) => h.stop()))
  })

  it('two nodes that know only a third find each other through it', async () => {
    const exchanged: Array<{ by: string; from: string; peers: string[] }> = []
    const record = (by: string) => (from: string, peers: readonly PeerInfo[]) =>
      exchanged.push({ by, from, peers: peers.map((p) => p.id.toString()) })
    const a = await host(71)
    const b = await host(72, { bootstrap: [addressOf(a)], onPeersExchanged: record('b') })
    await eventually('b connects to a', () => connected(b, a) || undefined)
    const c = await host(73, { bootstrap: [addressOf(a)], onPeersExchanged: record('c') })
    // Both sides: the dialler's side of a connection opens before the listener's.
    await eventually('b and c connect to each other', () => (connected(b, c) && connected(c, b)) || undefined)
    // It was peer exchange: a told one of them about the other.
    const told = exchanged.filter((e) => e.from === a.peerId.toString())
    expect(
      told.some(
        (e) =>
          (e.by === 'c' && e.peers.includes(b.peerId.toString())) ||
          (e.by === 'b' && e.peers.includes(c.peerId.toString())),
      ),
    ).toBe(true)
  })

  it('a node at its max connection count does not dial peers it learns of', async () => {
    const a = await host(74)
    const b = await host(75)
    // c does not ask for peers (another chain's protocol), so it never learns of x and dials it.
    const c = await host(76, { bootstrap: [addressOf(a)], chainId: 'other-chain' })
    await eventually('c connects to a', () => (connected(c, a) && connected(a, c)) || undefined)
    const x = await host(77, { bootstrap: [addressOf(a), addressOf(b)], maxConnections: 2 })
    await eventually('x is at its max of 2', () => (connected(x, a) && connected(x, b)) || undefined)

    // Ask a for peers while at the max: c is among them and is learned, not dialled.
    expect(await x.connector.exchange(a.peerId)).toBeGreaterThan(0)
    const key = c.peerId.toString()
    expect(x.connector.schedule.get(key)).toMatchObject({ state: 'waiting', attempts: 0 })
    const ticks = x.connector.ticks
    await eventually('eight more ticks of x', () => x.connector.ticks >= ticks + 8 || undefined)
    // Never dialled: a dial would have left it dialling, connected, or with a failed attempt.
    expect(x.connector.schedule.get(key)).toMatchObject({ state: 'waiting', attempts: 0 })
    expect(connected(x, c)).toBe(false)
    expect(x.getConnections()).toHaveLength(2)
  })

  it('an answer over the size limit, or garbage, fails the exchange with a typed error', async () => {
    const asker = await host(78)
    const liar = await host(79, { chainId: 'other-chain' })
    let reply = new Uint8Array(0)
    await liar.handle(PROTOCOL, async (stream: Stream) => {
      const lp = lpStream(stream)
      await lp.read()
      await lp.write(reply)
      await stream.close()
    })
    await asker.dial(liar.getMultiaddrs()[0]!)

    reply = new Uint8Array(PEER_EXCHANGE_RESPONSE_BYTES_MAX + 1)
    const tooLarge = await requestPeers(asker, PROTOCOL, liar.peerId, 4).catch((e: unknown) => e)
    expect(tooLarge).toBeInstanceOf(FrameError)
    expect((tooLarge as FrameError).code).toBe('too-large')

    reply = new Uint8Array([0xff, 0x00, 0x13, 0x37])
    const garbage = await requestPeers(asker, PROTOCOL, liar.peerId, 4)
    expect(garbage.ok ? 'decoded' : garbage.error.code).toBe('malformed')
  })
})

/** The largest answer the decoder accepts: every peer, address and length at its maximum. */
function largestAnswer(): Uint8Array {
  const id = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
  const host = 'a'.repeat(PEER_EXCHANGE_ADDR_LENGTH_MAX - '/dns4//tcp/65535'.length)
  return encodeCbor({
    peers: Array.from({ length: PEER_EXCHANGE_PEERS_MAX }, () => ({
      id: id.padEnd(64, 'z').slice(0, 64),
      addrs: Array.from({ length: PEER_EXCHANGE_ADDRS_PER_PEER_MAX }, () => `/dns4/${host}/tcp/65535`),
    })),
  })
}

describe('node: peer-exchange decoder', () => {
  const peer = peerIdFromString('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA')
  const good = (addrs = ['/ip4/127.0.0.1/tcp/4001']) => ({ peers: [{ id: peer.toString(), addrs }] })

  it('round-trips an answer, and the largest valid answer fits the frame limit', () => {
    const bytes = encodePeerResponse([{ id: peer, addrs: [multiaddr('/ip4/10.0.0.7/tcp/4001')] }])
    const decoded = decodePeerResponse(bytes)
    if (!decoded.ok) throw new Error(decoded.error.message)
    expect(decoded.value[0]!.id.equals(peer)).toBe(true)
    expect(decoded.value[0]!.addrs.map(String)).toEqual(['/ip4/10.0.0.7/tcp/4001'])
    expect(largestAnswer().byteLength).toBeLessThanOrEqual(PEER_EXCHANGE_RESPONSE_BYTES_MAX)
  })

  it('rejects each kind of bad answer with its own code and path', () => {
    const cases: Array<[unknown, string, string]> = [
      [{ peers: [], extra: 1 }, 'extra-field', ''],
      [{ peers: 'x' }, 'wrong-type', 'peers'],
      [{ peers: Array(PEER_EXCHANGE_PEERS_MAX + 1).fill(good().peers[0]) }, 'out-of-range', 'peers'],
      [
        good(Array(PEER_EXCHANGE_ADDRS_PER_PEER_MAX + 1).fill('/ip4/1.2.3.4/tcp/1')),
        'out-of-range',
        'peers[0].addrs',
      ],
      [good([]), 'out-of-range', 'peers[0].addrs'],
      [{ peers: [{ id: '0OIl', addrs: ['/ip4/1.2.3.4/tcp/1'] }] }, 'out-of-range', 'peers[0].id'],
      [{ peers: [{ id: '12D3Koo', addrs: ['/ip4/1.2.3.4/tcp/1'] }] }, 'malformed', 'peers[0].id'],
      [good(['/ip4/999.1.1.1/tcp/1']), 'malformed', 'peers[0].addrs[0]'],
      [good([`/ip4/1.2.3.4/tcp/1/p2p/${peer}`]), 'out-of-range', 'peers[0].addrs[0]'],
    ]
    for (const [value, code, path] of cases) {
      const r = decodePeerResponse(encodeCbor(value))
      expect(r.ok ? 'decoded' : [r.error.code, r.error.path], JSON.stringify(value).slice(0, 80)).toEqual([
        code,
        path,
      ])
    }
    const oversized = decodePeerResponse(new Uint8Array(PEER_EXCHANGE_RESPONSE_BYTES_MAX + 1))
    expect(oversized.ok ? 'decoded' : oversized.error.code).toBe('too-large')
    expect(decodePeerRequest(encodeCbor({ max: PEER_EXCHANGE_PEERS_MAX + 1 })).ok).toBe(false)
    expect(decodePeerRequest(new Uint8Array(65)).ok).toBe(false)
  })

  it('never throws on arbitrary bytes, and what it accepts stays within bounds (seeded)', () => {
    const anyBytes = fc.uint8Array({ maxLength: 2_048 })
    const anyValue = fc.anything({ maxDepth: 4 }).map((v) => {
      try {
        return encodeCbor(v)
      } catch {
        return new Uint8Array([0xf7])
      }
    })
    const nearlyGood = fc
      .record({
        id: fc.oneof(fc.constant(peer.toString()), fc.string({ maxLength: 80 })),
        addrs: fc.array(fc.oneof(fc.constant('/ip4/127.0.0.1/tcp/1'), fc.string({ maxLength: 40 })), {
          maxLength: 6,
        }),
      })
      .map((p) => encodeCbor({ peers: [p] }))
    fc.assert(
      fc.property(fc.oneof(anyBytes, anyValue, nearlyGood), (bytes) => {
        const r = decodePeerResponse(bytes)
        if (!r.ok) return typeof r.error.code === 'string' && typeof r.error.message === 'string'
        return (
          r.value.length <= PEER_EXCHANGE_PEERS_MAX &&
          r.value.every((p) => p.addrs.length >= 1 && p.addrs.length <= PEER_EXCHANGE_ADDRS_PER_PEER_MAX)
        )
      }),
      { seed: 20260312, numRuns: 3_000 },
    )
  })
})
