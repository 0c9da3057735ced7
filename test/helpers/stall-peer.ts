import type { Stream } from '@libp2p/interface'
import { CHUNK_MESSAGE_BYTES_MAX } from '../../src/constants.js'
import { keyPairFromSeed } from '../../src/crypto/ed25519.js'
import { FramedStream } from '../../src/node/framing.js'
import { createHost, type Host } from '../../src/node/host.js'
import { fullBitfield } from '../../src/transfer/bitfield.js'
import { chunkCountOf } from '../../src/transfer/manifest.js'
import { chunkProtocolId, decodeChunkMessage, encodeChunkMessage } from '../../src/transfer/messages.js'

/**
 * A stalling neighbour (slow retrieval), over real libp2p on loopback: it claims to hold every
 * chunk of an image, takes every request and never answers one. It keeps its streams open and
 * reads on, so nothing at the link level gives it away: only the requests' deadlines can. It
 * records what it was asked and what was withdrawn, per chunk, with the time.
 */
export class StallPeer {
  /** Requests received, in order: who asked, the chunk and when (ms since the epoch). */
  readonly requests: Array<{ from: string; chunk: number; at: number }> = []
  /** Cancels received, in order. */
  readonly cancels: Array<{ from: string; chunk: number; at: number }> = []

  /** Called as each cancel arrives (a test reads the downloader's progress at that moment). */
  onCancel: ((from: string, chunk: number) => void) | undefined

  private constructor(
    readonly host: Host,
    private readonly chunks: number,
  ) {}

  static async start(
    chainId: string,
    image: { imageSize: number; chunkSize: number },
    seed = 77,
  ): Promise<StallPeer> {
    const host = await createHost({
      keys: keyPairFromSeed(new Uint8Array(32).fill(seed)),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: [],
      mdns: false,
    })
    const peer = new StallPeer(host, chunkCountOf(image.imageSize, image.chunkSize))
    await host.handle(
      chunkProtocolId(chainId),
      (stream, connection) => void peer.serve(stream, connection.remotePeer.toString()),
      {
        maxInboundStreams: 64,
      },
    )
    return peer
  }

  get peerId(): string {
    return this.host.peerId.toString()
  }

  private async serve(stream: Stream, from: string): Promise<void> {
    const framed = new FramedStream(stream, CHUNK_MESSAGE_BYTES_MAX)
    try {
      for (;;) {
        const frame = await framed.read(600_000)
        if (frame === null) return
        const msg = decodeChunkMessage(frame)
        if (!msg.ok) return
        const m = msg.value
        if (m.type === 'have') {
          const bitfield = fullBitfield(this.chunks)
          await framed.write(encodeChunkMessage({ type: 'have', manifest: m.manifest, bitfield }), 10_000)
        } else if (m.type === 'request') {
          this.requests.push({ from, chunk: m.chunk, at: Date.now() })
        } else if (m.type === 'cancel') {
          this.cancels.push({ from, chunk: m.chunk, at: Date.now() })
          this.onCancel?.(from, m.chunk)
        }
      }
    } catch {
      // The device closes the stream when it bans us or stops.
    }
  }

  async stop(): Promise<void> {
    await this.host.stop()
  }
}
