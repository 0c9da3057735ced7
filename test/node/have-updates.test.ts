import type { Stream } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHUNK_MESSAGE_BYTES_MAX } from '../../src/constants.js'
import { FramedStream } from '../../src/node/framing.js'
import type { Host } from '../../src/node/host.js'
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
 * A neighbour on the chunk protocol that records the have-updates it is sent. One that takes
 * part answers a have with its own, holding every chunk, the first half or none (and turns
 * requests away as busy); a bystander (`holds` null) takes no part and answers nothing.
 */
async function neighbour(seed: number, chain: string, holds: 'all' | 'half' | 'none' | null) {
  const host = await loopbackHost(seed)
  const haveUpdates: number[][] = []
  const serve = async (stream: Stream) => {
    const framed = new FramedStream(stream, CHUNK_MESSAGE_BYTES_MAX)
    const send = (msg: ChunkMessage) => framed.write(encodeChunkMessage(msg), 10_000)
    try {
      for (let frame = await framed.read(60_000); frame !== null; frame = await framed.read(60_000)) {
        const msg = decodeChunkMessage(frame)
        if (!msg.ok) return
        const m = msg.value
        if (m.type === 'have-update') haveUpdates.push([...m.chunks])
        if (holds === null) continue
        if (m.type === 'have') {
          // 'half' holds chunks 0-3 (the first byte's four high bits).
          const bitfield = new Uint8Array(bitfieldBytes(CHUNKS)).fill(
            holds === 'all' ? 0xff : holds === 'half' ? 0xf0 : 0,
          )
          await send({ type: 'have', manifest: m.manifest, bitfield })
        } else if (m.type === 'request') {
          await send({ type: 'not-found', manifest: m.manifest, chunk: m.chunk, reason: 'busy' })
        }
      }
    } catch {
      // The device closes the stream when it stops.
    }
  }
  await host.handle(chunkProtocolId(chain), (stream) => void serve(stream), { maxInboundStreams: 8 })
  return { host, haveUpdates }
}

describe('node: have-updates go only to neighbours that can use them (real libp2p, loopback)', () => {
  let cluster: Cluster
  const hosts: Host[] = []
  beforeAll(async () => {
    cluster = await startCluster({ seed: 'have-updates', validators: 1 })
  }, 60_000)
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()))
    await cluster?.stop()
  })

  it('a device tells a neighbour only the chunks it lacks, a seed all of them, and a bystander none', async () => {
    const chain = cluster.chain.genesis.chainId
    const origin = cluster.validators[0]!
    const image = await makeImage(cluster.dir, 'fw-have.img', CHUNKS * 256 * KiB, 'have-updates')
    expect(await origin.transfer.addImage(image.path, image.cid.toString())).toMatchObject({ ok: true })
    const device = await cluster.addFollower({ name: 'device' })
    const holder = await neighbour(91, chain, 'half')
    const seed = await neighbour(94, chain, 'all')
    const bystander = await neighbour(92, chain, null)
    const newcomer = await neighbour(93, chain, 'none')
    hosts.push(holder.host, bystander.host, newcomer.host, seed.host)
    for (const n of [holder, bystander, newcomer, seed]) await n.host.dial(device.host.getMultiaddrs()[0]!)
    await eventually('the device sees all four neighbours', () =>
      device.host.getConnections().length >= 5 ? true : undefined,
    )
    const fetched = await device.transfer.fetch(image.cid.toString(), {
      id: 'release',
      imageSize: image.manifest.imageSize,
      imageSha256: image.manifest.imageSha256,
    })
    expect(fetched.ok, 'the download completes from the origin').toBe(true)
    // The chunk-protocol counters (the /metrics an operator and the simulator's calibration read).
    const received = device.transfer.traffic()
    expect(received.messagesReceived, 'a message per chunk at least').toBeGreaterThanOrEqual(CHUNKS)
    expect(received.bytesReceived).toBeGreaterThan(image.manifest.imageSize)
    expect(received.messagesSent, 'a request per chunk at least').toBeGreaterThanOrEqual(CHUNKS)
    expect(origin.transfer.traffic().bytesSent).toBeGreaterThan(image.manifest.imageSize)
    // The newcomer, holding nothing, is told every chunk: the updates the others would have
    // been sent left in the same turns.
    await eventually('the newcomer hears of all 8 chunks', () =>
      newcomer.haveUpdates.flat().length >= CHUNKS ? true : undefined,
    )
    expect(newcomer.haveUpdates.flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    // A neighbour holding every chunk may be an origin that super-seeds: it hears of all.
    await eventually('the seed hears of all 8 chunks', () =>
      seed.haveUpdates.flat().length >= CHUNKS ? true : undefined,
    )
    expect(
      holder.haveUpdates.flat().sort((a, b) => a - b),
      'only the chunks the half-holder lacks',
    ).toEqual([4, 5, 6, 7])
    expect(bystander.haveUpdates, 'nothing to a neighbour without the image').toEqual([])
  }, 60_000)
})
