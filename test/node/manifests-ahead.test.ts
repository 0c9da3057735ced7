import type { Stream } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHUNK_MESSAGE_BYTES_MAX } from '../../src/constants.js'
import { FramedStream } from '../../src/node/framing.js'
import type { Host } from '../../src/node/host.js'
import { chunkImageFile } from '../../src/node/store/image-chunker.js'
import { bitfieldBytes } from '../../src/transfer/bitfield.js'
import {
  type ChunkMessage,
  chunkProtocolId,
  decodeChunkMessage,
  encodeChunkMessage,
} from '../../src/transfer/messages.js'
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js'
import { loopbackHost } from '../helpers/hosts.js'
import { makeImage } from '../helpers/release.js'

const KiB = 1024
const CHUNKS = 8

/**
 * A neighbour holding the whole image that answers a manifest request with the manifest and
 * its have, as a node does, and then answers nothing else: not the device's have (so a device
 * that waits for an answer to its have never asks it for a chunk), not its requests. It can
 * ask the device for the manifest itself, and records what the device sends.
 */
async function holder(seed: number, chain: string, manifest: Uint8Array) {
  const host = await loopbackHost(seed)
  const received: ChunkMessage[] = []
  let send: ((msg: ChunkMessage) => Promise<void>) | undefined
  const serve = async (stream: Stream) => {
    const framed = new FramedStream(stream, CHUNK_MESSAGE_BYTES_MAX)
    send = (msg) => framed.write(encodeChunkMessage(msg), 10_000)
    try {
      for (let frame = await framed.read(60_000); frame !== null; frame = await framed.read(60_000)) {
        const msg = decodeChunkMessage(frame)
        if (!msg.ok) return
        received.push(msg.value)
        if (msg.value.type === 'manifest-request') {
          await send({ type: 'manifest', manifest: msg.value.manifest, bytes: manifest })
          const bitfield = new Uint8Array(bitfieldBytes(CHUNKS)).fill(0xff)
          await send({ type: 'have', manifest: msg.value.manifest, bitfield })
        }
      }
    } catch {
      // The device closes the stream when it stops.
    }
  }
  await host.handle(chunkProtocolId(chain), (stream) => void serve(stream), { maxInboundStreams: 8 })
  return {
    host,
    received,
    send: (msg: ChunkMessage) => {
      if (!send) throw new Error('the device has not opened its link yet')
      return send(msg)
    },
  }
}

describe('node: a manifest fetched ahead of the download (real libp2p, loopback)', () => {
  let cluster: Cluster
  const hosts: Host[] = []
  beforeAll(async () => {
    cluster = await startCluster({ seed: 'manifests-ahead', validators: 1 })
  }, 60_000)
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()))
    await cluster?.stop()
  })

  it('a device that prefetched the manifest serves it, and asks the holder for chunks as its download starts, without waiting for an answer to its have', async () => {
    const chain = cluster.chain.genesis.chainId
    const image = await makeImage(cluster.dir, 'fw-ahead.img', CHUNKS * 256 * KiB, 'manifests-ahead')
    const chunked = await chunkImageFile(image.path)
    if (!chunked.ok) throw new Error(chunked.error.message)
    const device = await cluster.addFollower({ name: 'device' })
    const seed = await holder(95, chain, chunked.value.encoded)
    hosts.push(seed.host)
    await seed.host.dial(device.host.getMultiaddrs()[0]!)
    await eventually('the device sees the holder', () =>
      device.host.getConnections().some((c) => c.remotePeer.equals(seed.host.peerId)) ? true : undefined,
    )

    device.transfer.prefetchManifest(image.cid.toString())
    await eventually('the device asks the holder for the manifest', () =>
      seed.received.some((m) => m.type === 'manifest-request') ? true : undefined,
    )
    // The device handles one link's messages in order: its answer shows the manifest and the
    // holder's have (sent before this request) are in.
    await seed.send({ type: 'manifest-request', manifest: image.cid })
    await eventually('the device serves the manifest it holds ahead', () =>
      seed.received.some((m) => m.type === 'manifest') ? true : undefined,
    )
    const served = seed.received.find((m) => m.type === 'manifest')
    expect(served?.type === 'manifest' && Buffer.from(served.bytes).equals(chunked.value.encoded)).toBe(true)

    const asksBefore = seed.received.filter((m) => m.type === 'manifest-request').length
    void device.transfer.fetch(image.cid.toString(), {
      id: 'release',
      imageSize: image.manifest.imageSize,
      imageSha256: image.manifest.imageSha256,
    })
    await eventually('the device asks the holder for a chunk', () =>
      seed.received.some((m) => m.type === 'request') ? true : undefined,
    )
    expect(
      seed.received.filter((m) => m.type === 'manifest-request').length,
      'the download did not ask for the manifest again',
    ).toBe(asksBefore)
    await device.transfer.cancel(image.cid.toString())
  }, 60_000)
})
