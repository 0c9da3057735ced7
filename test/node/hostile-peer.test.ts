/**
 * A hostile neighbour against the chunk protocol's bounds, over real libp2p on 127.0.0.1: one
 * rule per test, each seen from the attacker's side (its stream reset) and the node's (nothing
 * accepted, nothing left buffered). The node-level tests attack a device whose download from a
 * slowed origin is in progress; the stall tests use ChunkLinks alone with a short deadline
 * (ChunkLinkOptions), as the real one is 26 s for a chunk.
 */
import { readFile } from 'node:fs/promises'
import type { Stream } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cidOf } from '../../src/codec/cid.js'
import { CHUNK_INBOUND_STREAMS_MAX, CHUNK_MESSAGE_BYTES_MAX } from '../../src/constants.js'
import { keyPairFromSeed } from '../../src/crypto/ed25519.js'
import { type ChunkLinkOptions, ChunkLinks } from '../../src/node/chunk-links.js'
import type { Node } from '../../src/node/daemon.js'
import { frameOf, lengthPrefix } from '../../src/node/frame-reader.js'
import { FramedStream } from '../../src/node/framing.js'
import { createHost, type Host } from '../../src/node/host.js'
import { makeLogger } from '../../src/node/log.js'
import { emptyBitfield, fullBitfield } from '../../src/transfer/bitfield.js'
import {
  type ChunkMessage,
  chunkProtocolId,
  decodeChunkMessage,
  encodeChunkDataParts,
  encodeChunkMessage,
} from '../../src/transfer/messages.js'
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js'
import { makeImage } from '../helpers/release.js'

const KiB = 1024
const MiB = 1024 * KiB
const CHUNKS = 8
/** How long a node may take to reset a stream it refuses at once (a loaded machine included). */
const REFUSAL_MS = 10_000

const hosts: Host[] = []
const links: ChunkLinks[] = []

async function host(seed: number): Promise<Host> {
  const h = await createHost({
    keys: keyPairFromSeed(new Uint8Array(32).fill(seed)),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    mdns: false,
  })
  hosts.push(h)
  return h
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}

/** Whether the other side reset (aborted) the stream. */
const wasReset = (stream: Stream) => (stream.status === 'reset' ? true : undefined)

/**
 * A hostile neighbour of the device on the chunk protocol. It takes the streams the device
 * opens to it (the device tells every new neighbour what it holds), reads what the device
 * sends, and answers the device's `have` with one of its own: every chunk (`all`, so the device
 * asks it for chunks and gives it credit for large frames), none (`none`, so it joins the
 * download without being asked anything), or not at all (null).
 */
async function attacker(seed: number, chain: string, device: Node, holds: 'all' | 'none' | null) {
  const h = await host(seed)
  const fromDevice: Stream[] = []
  const got: ChunkMessage[] = []
  const serve = async (stream: Stream) => {
    fromDevice.push(stream)
    const framed = new FramedStream(stream, CHUNK_MESSAGE_BYTES_MAX)
    try {
      for (let frame = await framed.read(60_000); frame !== null; frame = await framed.read(60_000)) {
        const msg = decodeChunkMessage(frame)
        if (!msg.ok) return
        got.push(msg.value)
        if (msg.value.type === 'have' && holds !== null) {
          const bitfield = holds === 'all' ? fullBitfield(CHUNKS) : emptyBitfield(CHUNKS)
          stream.send(frameOf([encodeChunkMessage({ type: 'have', manifest: msg.value.manifest, bitfield })]))
        }
      }
    } catch {
      // The device resets the stream: what these tests wait for.
    }
  }
  await h.handle(chunkProtocolId(chain), (stream) => void serve(stream), { maxInboundStreams: 8 })
  await h.dial(device.host.getMultiaddrs()[0]!)
  return {
    host: h,
    peer: h.peerId.toString(),
    got,
    /** The stream the device opened to tell us what it holds, once its `have` arrived. */
    told: () =>
      eventually('the device tells the attacker what it holds', () =>
        got.some((m) => m.type === 'have') ? fromDevice[0] : undefined,
      ),
    /** A stream of our own to the device, as many as libp2p lets us open. */
    open: () =>
      h.dialProtocol(device.host.getMultiaddrs()[0]!, chunkProtocolId(chain), { maxOutboundStreams: 64 }),
  }
}

/** ChunkLinks alone on a host of its own (no admit check), with the messages and drops it saw. */
async function linksNode(seed: number, options: ChunkLinkOptions = {}) {
  const h = await host(seed)
  const got: ChunkMessage[] = []
  const dropped: string[] = []
  const l = new ChunkLinks(
    h,
    '/fwmesh/hostile/chunks/1',
    {
      onMessage: async (_peer, msg) => {
        got.push(msg)
      },
      onDropped: (peer) => dropped.push(peer),
    },
    makeLogger('silent'),
    options,
  )
  await l.start()
  links.push(l)
  const open = (from: Host) => from.dialProtocol(h.getMultiaddrs()[0]!, '/fwmesh/hostile/chunks/1')
  return { host: h, links: l, got, dropped, open }
}

describe('node: a hostile neighbour on the chunk protocol (real libp2p, loopback)', () => {
  let cluster: Cluster
  let device: Node
  let image: Awaited<ReturnType<typeof makeImage>>
  let imageBytes: Uint8Array
  let fetching: ReturnType<Node['transfer']['fetch']>
  let chain: string

  beforeAll(async () => {
    // 128 KiB/s from the origin: the device's eight 256 KiB chunks take about 15 s, so the
    // attacks below land while its download is in progress.
    cluster = await startCluster({ seed: 'hostile', validators: 1, originUploadBytesPerSec: 128 * KiB })
    chain = cluster.chain.genesis.chainId
    const origin = cluster.validators[0]!
    image = await makeImage(cluster.dir, 'fw-hostile.img', CHUNKS * 256 * KiB, 'hostile')
    imageBytes = await readFile(image.path)
    expect(await origin.transfer.addImage(image.path, image.cid.toString())).toMatchObject({ ok: true })
    device = await cluster.addFollower({ name: 'device' })
    fetching = device.transfer.fetch(image.cid.toString(), {
      id: 'release',
      imageSize: image.manifest.imageSize,
      imageSha256: image.manifest.imageSha256,
    })
    await eventually('the device is downloading', () => device.transfer.downloads()[0]?.downloading)
  }, 60_000)
  afterAll(async () => {
    for (const l of links.splice(0)) l.stop()
    await Promise.all(hosts.splice(0).map((h) => h.stop()))
    await cluster?.stop()
  })

  it('a 256 KiB chunk nobody asked for gets the link dropped, and nothing of it is written', async () => {
    // The attacker joins the download holding nothing, so the device never asks it for a chunk,
    // then sends the last chunk, valid, unasked: without the admit check it would be accepted.
    const a = await attacker(101, chain, device, 'none')
    const stream = await a.told()
    expect(device.transfer.downloads()[0]?.downloading, 'the device is still downloading').toBe(true)
    const last = CHUNKS - 1
    const data = imageBytes.subarray(last * 256 * KiB, CHUNKS * 256 * KiB)
    stream.send(frameOf(encodeChunkDataParts(image.cid, last, data)))
    await eventually('the device resets the stream', () => wasReset(stream), REFUSAL_MS)
    expect(
      a.got.some((m) => m.type === 'request'),
      'the device asked the attacker nothing',
    ).toBe(false)
    expect(device.transfer.downloads()[0]?.bytesFrom[a.peer], 'no byte from the attacker').toBeUndefined()
  })

  it('a neighbour asked for a 256 KiB chunk cannot spend that credit on a 4 MiB frame', async () => {
    const a = await attacker(102, chain, device, 'all')
    const stream = await a.told()
    await eventually('the device asks the attacker for a chunk', () =>
      a.got.some((m) => m.type === 'request') ? true : undefined,
    )
    // The largest frame the protocol allows, then a few bytes, then nothing.
    stream.send(concat(lengthPrefix(CHUNK_MESSAGE_BYTES_MAX), new Uint8Array(16)))
    await eventually('the device resets the stream', () => wasReset(stream), REFUSAL_MS)
    expect(device.transfer.downloads()[0]?.bytesFrom[a.peer], 'no byte from the attacker').toBeUndefined()
  })

  it(`a neighbour cannot open more than ${CHUNK_INBOUND_STREAMS_MAX} chunk streams on one connection`, async () => {
    const a = await attacker(103, chain, device, null)
    const tries = CHUNK_INBOUND_STREAMS_MAX + 2
    const opened: Stream[] = []
    let refused = 0
    for (let i = 0; i < tries; i++) {
      // Each stream says something harmless, so the accepted ones have a reason to stay open.
      const stream = await a.open().catch(() => null)
      if (stream === null || stream.status !== 'open') refused++
      else {
        stream.send(frameOf([encodeChunkMessage({ type: 'cancel', manifest: image.cid, chunk: 0 })]))
        opened.push(stream)
      }
    }
    await eventually(
      'the extra streams fail',
      () =>
        refused + opened.filter((s) => s.status !== 'open').length === tries - CHUNK_INBOUND_STREAMS_MAX ||
        undefined,
      REFUSAL_MS,
    )
    expect(opened.slice(0, CHUNK_INBOUND_STREAMS_MAX).map((s) => s.status)).toEqual(
      Array(CHUNK_INBOUND_STREAMS_MAX).fill('open'),
    )
    expect(device.host.getConnections(a.host.peerId).length, 'the connection itself stays').toBe(1)
  })

  it('a frame whose length is over the limit is refused from its length alone', async () => {
    // ChunkLinks without an admit check and with the real deadlines: only the length limit can
    // refuse this frame within seconds.
    const target = await linksNode(111)
    const from = await host(112)
    const stream = await target.open(from)
    stream.send(lengthPrefix(CHUNK_MESSAGE_BYTES_MAX + 1))
    await eventually('the stream is reset', () => wasReset(stream), REFUSAL_MS)
    expect(target.links.receiving(), 'nothing buffered').toEqual([])
    expect(target.dropped).toEqual([from.peerId.toString()])
  })

  it('a stalled frame is dropped after its deadline, and its buffer released', async () => {
    const target = await linksNode(113, { frameDeadlineMs: () => 300, watchdogIntervalMs: 50 })
    const from = await host(114)
    const stream = await target.open(from)
    stream.send(concat(lengthPrefix(4 * MiB), new Uint8Array(3)))
    const started = await eventually('the frame is being received', () => target.links.receiving()[0])
    expect(started).toMatchObject({ peer: from.peerId.toString(), length: 4 * MiB, received: 3 })
    await eventually('the stream is reset', () => wasReset(stream), REFUSAL_MS)
    expect(target.links.receiving(), 'the frame buffer is released').toEqual([])
    expect(target.dropped).toEqual([from.peerId.toString()])
  })

  it("a stalled frame on a neighbour's second stream is dropped too, with the whole link", async () => {
    const target = await linksNode(115, { frameDeadlineMs: () => 300, watchdogIntervalMs: 50 })
    const from = await host(116)
    // The first stream carries a message and becomes the link's; the second is a spare, as when
    // both sides open one at once.
    const first = await target.open(from)
    first.send(frameOf([encodeChunkMessage({ type: 'cancel', manifest: cidOf({ n: 1 }), chunk: 0 })]))
    await eventually('the first message arrives', () => target.got.length > 0 || undefined)
    const second = await target.open(from)
    second.send(concat(lengthPrefix(4 * MiB), new Uint8Array(3)))
    await eventually('the spare is reset', () => wasReset(second), REFUSAL_MS)
    await eventually('the first stream is reset with the link', () => wasReset(first), REFUSAL_MS)
    expect(target.links.receiving(), 'the frame buffer is released').toEqual([])
    expect(target.dropped).toEqual([from.peerId.toString()])
  })

  it('after all that, the device finishes its download from the origin and serves an honest neighbour', async () => {
    const fetched = await fetching
    expect(fetched.ok, 'the download completes').toBe(true)
    const row = device.transfer.downloads()[0]!
    expect(Object.keys(row.bytesFrom), 'every byte came from the origin').toEqual([
      cluster.validators[0]!.host.peerId.toString(),
    ])
    const honest = await host(121)
    const stream = await honest.dialProtocol(device.host.getMultiaddrs()[0]!, chunkProtocolId(chain))
    const framed = new FramedStream(stream, CHUNK_MESSAGE_BYTES_MAX)
    await framed.write(encodeChunkMessage({ type: 'request', manifest: image.cid, chunk: 2 }), 10_000)
    for (;;) {
      const frame = await framed.read(30_000)
      expect(frame, 'the stream stays open until the chunk arrives').not.toBeNull()
      const msg = decodeChunkMessage(frame!)
      if (!msg.ok || msg.value.type !== 'chunk') continue
      expect(msg.value.chunk).toBe(2)
      expect(Buffer.compare(msg.value.data, imageBytes.subarray(2 * 256 * KiB, 3 * 256 * KiB))).toBe(0)
      break
    }
    framed.abort('done')
  })
})
