import type { Stream } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHUNK_MESSAGE_BYTES_MAX } from '../../src/constants.js'
import { keyPairFromSeed } from '../../src/crypto/ed25519.js'
import { FramedStream } from '../../src/node/framing.js'
import { createHost, type Host } from '../../src/node/host.js'
import {
  type ChunkMessage,
  chunkProtocolId,
  decodeChunkMessage,
  encodeChunkMessage,
} from '../../src/transfer/messages.js'
import { type Cluster, startCluster } from '../helpers/cluster.js'
import { makeImage } from '../helpers/release.js'

const KiB = 1024

describe('node: uploads under a bandwidth limit (real libp2p, loopback)', () => {
  let cluster: Cluster
  let client: Host
  beforeAll(async () => {
    // 128 KiB/s and 256 KiB chunks: the first chunk goes at once, the next waits about two seconds
    // for the uplink's tokens (ample time for the cancels to arrive, even on a loaded machine).
    cluster = await startCluster({ seed: 'uploads', validators: 1, originUploadBytesPerSec: 128 * KiB })
    client = await createHost({
      keys: keyPairFromSeed(new Uint8Array(32).fill(7)),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: [],
      mdns: false,
    })
  }, 60_000)
  afterAll(async () => {
    await client?.stop()
    await cluster?.stop()
  })

  it('a request cancelled while the uplink waits for tokens is never sent', async () => {
    const origin = cluster.validators[0]!
    const image = await makeImage(cluster.dir, 'fw-uploads.img', 1024 * KiB, 'uploads-image')
    expect(image.manifest.chunkSize).toBe(256 * KiB)
    expect(await origin.transfer.addImage(image.path, image.cid.toString())).toMatchObject({ ok: true })
    const connection = await client.dial(origin.host.getMultiaddrs()[0]!)
    const stream: Stream = await connection.newStream(chunkProtocolId(cluster.chain.genesis.chainId))
    const framed = new FramedStream(stream, CHUNK_MESSAGE_BYTES_MAX)
    const send = (msg: ChunkMessage) => framed.write(encodeChunkMessage(msg), 10_000)
    // Three requests at once, then two withdrawn (as an end-game does when a copy arrived
    // elsewhere), then one more: the uplink sends in request order, so once the last request's
    // chunk arrives, any cancelled chunk that was still going to be sent would have come first.
    for (const chunk of [0, 1, 2]) await send({ type: 'request', manifest: image.cid, chunk })
    for (const chunk of [1, 2]) await send({ type: 'cancel', manifest: image.cid, chunk })
    await send({ type: 'request', manifest: image.cid, chunk: 3 })
    const received: number[] = []
    while (!received.includes(3)) {
      const frame = await framed.read(30_000)
      expect(frame, 'the stream stays open until chunk 3 arrives').not.toBeNull()
      const msg = decodeChunkMessage(frame!)
      expect(msg.ok, 'every frame decodes').toBe(true)
      if (msg.ok && msg.value.type === 'chunk') received.push(msg.value.chunk)
    }
    expect(received, 'only the chunks still wanted were sent').toEqual([0, 3])
    expect(origin.transfer.downloads()[0]?.uploadedBytes).toBe(2 * 256 * KiB)
    framed.abort('done')
  }, 60_000)
})
