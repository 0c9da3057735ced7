import type { Stream } from '@libp2p/interface'
import { CHUNK_MESSAGE_BYTES_MAX } from '../../src/constants.js'
import { keyPairFromSeed } from '../../src/crypto/ed25519.js'
import { FramedStream } from '../../src/node/framing.js'
import { createHost, type Host } from '../../src/node/host.js'
import { Prng } from '../../src/prng.js'
import { bitfieldBytes } from '../../src/transfer/bitfield.js'
import { chunkCountOf } from '../../src/transfer/manifest.js'
import {
  type ChunkMessage,
  chunkProtocolId,
  decodeChunkMessage,
  encodeChunkMessage,
} from '../../src/transfer/messages.js'

/**
 * A malicious neighbour, over real libp2p on loopback: it claims to hold every chunk of an
 * image, answers every request with bytes of the right length but the wrong content, and
 * answers manifest requests with garbage. It counts what it was asked, per peer.
 */
export class BadPeer {
  readonly requests = new Map<string, number>()
  private readonly garbage = Prng.fromSeed('bad-peer')

  private constructor(
    readonly host: Host,
    private readonly image: { imageSize: number; chunkSize: number },
  ) {}

  static async start(chainId: string, image: { imageSize: number; chunkSize: number }): Promise<BadPeer> {
    const host = await createHost({
      keys: keyPairFromSeed(new Uint8Array(32).fill(66)),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: [],
      mdns: false,
    })
    const peer = new BadPeer(host, image)
    await host.handle(
      chunkProtocolId(chainId),
      (stream, connection) => void peer.serve(stream, connection.remotePeer.toString()),
      { maxInboundStreams: 64 },
    )
    return peer
  }

  private async serve(stream: Stream, from: string): Promise<void> {
    const framed = new FramedStream(stream, CHUNK_MESSAGE_BYTES_MAX)
    const chunks = chunkCountOf(this.image.imageSize, this.image.chunkSize)
    const send = (msg: ChunkMessage) => framed.write(encodeChunkMessage(msg), 10_000)
    try {
      for (;;) {
        const frame = await framed.read(60_000)
        if (frame === null) return
        const msg = decodeChunkMessage(frame)
        if (!msg.ok) return
        const m = msg.value
        if (m.type === 'have') {
          const bitfield = new Uint8Array(bitfieldBytes(chunks))
          for (let i = 0; i < chunks; i++) bitfield[i >> 3]! |= 0x80 >> (i & 7)
          await send({ type: 'have', manifest: m.manifest, bitfield })
        } else if (m.type === 'manifest-request') {
          await send({ type: 'manifest', manifest: m.manifest, bytes: this.garbage.bytes(100) })
        } else if (m.type === 'request') {
          this.requests.set(from, (this.requests.get(from) ?? 0) + 1)
          const last = m.chunk === chunks - 1
          const length = last ? this.image.imageSize - m.chunk * this.image.chunkSize : this.image.chunkSize
          await send({
            type: 'chunk',
            manifest: m.manifest,
            chunk: m.chunk,
            data: this.garbage.bytes(length),
          })
        }
      }
    } catch {
      // The honest side closes the stream when it bans us.
    }
  }

  async stop(): Promise<void> {
    await this.host.stop()
  }
}
