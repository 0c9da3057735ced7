/**
 * Hostile chunk neighbours for the download attacks: libp2p hosts made with the node's own
 * `createHost` (tcp + noise + yamux), dialled to one device before a release is approved, so
 * the device tells them of its download and they answer. Each claims to hold every chunk of
 * the image, then misbehaves in one way, and counts what it was asked and what it sent.
 */
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { CHUNK_MESSAGE_BYTES_MAX } from '../../src/constants.js'
import { generateKeyPair } from '../../src/crypto/ed25519.js'
import { frameOf, lengthPrefix } from '../../src/node/frame-reader.js'
import { FramedStream } from '../../src/node/framing.js'
import { createHost, type Host } from '../../src/node/host.js'
import { Prng } from '../../src/prng.js'
import { fullBitfield } from '../../src/transfer/bitfield.js'
import {
  type ChunkMessage,
  chunkProtocolId,
  decodeChunkMessage,
  encodeChunkMessage,
} from '../../src/transfer/messages.js'

/** What a hostile neighbour knows of the image it pretends to hold. */
export interface ImageShape {
  /** The manifest CID of the release attacked: only its download is answered. */
  readonly manifest: string
  readonly imageSize: number
  readonly chunkSize: number
}

/**
 * "Without end" within reason: past this many bytes an endless neighbour gives up, and the
 * attack is reported as not reset (the device should reset it after a few MiB at most).
 */
const ENDLESS_BYTES_MAX = 512 * 1024 * 1024

/**
 * Sends bytes and waits until the stream takes more: its drain when its buffer is full, and
 * a turn of the event loop otherwise, so the stream's own I/O runs (a loop that never yields
 * queues without bound in this process).
 */
export async function pushed(stream: Stream, bytes: Uint8Array): Promise<void> {
  const full = !stream.send(bytes) || stream.writeBufferLength > PUSH_BUFFER_MAX
  if (full) await stream.onDrain({ signal: AbortSignal.timeout(PUSH_DRAIN_TIMEOUT_MS) })
  else await new Promise((r) => setImmediate(r))
}

/** What the attackers queue on a stream before waiting for it to drain (libp2p's bound is loose). */
const PUSH_BUFFER_MAX = 1024 * 1024
/** A stream that has not drained for this long: the device stopped reading it. */
export const PUSH_DRAIN_TIMEOUT_MS = 20_000

export type Behaviour =
  /** Every requested chunk answered with random bytes of the right length; garbage manifests. */
  | { readonly kind: 'wrong-bytes' }
  /** Every request answered by a frame one byte over CHUNK_MESSAGE_BYTES_MAX, then bytes without end. */
  | { readonly kind: 'endless-frame' }
  /** Chunk messages nobody asked for, back to back, without end, from the first `have` on. */
  | { readonly kind: 'endless-unsolicited' }
  /** Requests taken and never answered; the stream kept open. */
  | { readonly kind: 'silent' }
  /** Another image's manifest and chunks, whatever is asked for. */
  | { readonly kind: 'other-image'; readonly manifestBytes: Uint8Array; readonly image: Uint8Array }

export class HostileNeighbour {
  /** Requests for chunks received from the device. */
  requests = 0
  manifestRequests = 0
  /** Bytes handed to streams towards the device. */
  bytesSent = 0
  /** Bytes that left this host's buffers for the device (sent, less what still waits). */
  bytesDelivered = 0
  /** How an endless stream ended: reset by the device, or left undrained (it stopped reading). */
  endedBy: 'reset' | 'stopped reading' | 'cap' | null = null
  /** Streams the device closed or reset on us. */
  streamsEnded = 0
  /** When the device first ended one of our streams, ms after the first byte we sent. */
  firstEndedAfterMs: number | null = null
  private firstSentAt: number | null = null
  private readonly garbage = Prng.fromSeed('hostile-neighbour')
  private stopped = false

  private constructor(
    readonly host: Host,
    private readonly behaviour: Behaviour,
    private readonly image: ImageShape,
  ) {}

  /** Starts a hostile host and dials the device at `target` (a multiaddr with /p2p/). */
  static async start(
    chainId: string,
    target: string,
    behaviour: Behaviour,
    image: ImageShape,
  ): Promise<HostileNeighbour> {
    // No listen address: the device's peer exchange has nothing to pass on, so only the
    // attacked device meets this neighbour.
    const host = await createHost({ keys: generateKeyPair(), listen: [], bootstrap: [], mdns: false })
    const peer = new HostileNeighbour(host, behaviour, image)
    await host.handle(chunkProtocolId(chainId), (stream) => void peer.serve(stream), {
      maxInboundStreams: 64,
      maxOutboundStreams: 64,
    })
    await host.dial(multiaddr(target))
    return peer
  }

  get peerId(): string {
    return this.host.peerId.toString()
  }

  private chunks(): number {
    return Math.ceil(this.image.imageSize / this.image.chunkSize)
  }

  private sent(bytes: number): void {
    this.firstSentAt ??= performance.now()
    this.bytesSent += bytes
  }

  private async serve(stream: Stream): Promise<void> {
    stream.addEventListener('close', () => {
      this.streamsEnded++
      if (this.firstEndedAfterMs === null && this.firstSentAt !== null)
        this.firstEndedAfterMs = Math.round(performance.now() - this.firstSentAt)
    })
    const framed = new FramedStream(stream, CHUNK_MESSAGE_BYTES_MAX)
    const send = async (msg: ChunkMessage) => {
      const bytes = encodeChunkMessage(msg)
      this.sent(bytes.byteLength)
      await framed.write(bytes, 30_000)
    }
    let flooding = false
    try {
      for (;;) {
        const frame = await framed.read(600_000)
        if (frame === null || this.stopped) return
        const decoded = decodeChunkMessage(frame)
        if (!decoded.ok) return
        const m = decoded.value
        const b = this.behaviour
        if (m.manifest.toString() !== this.image.manifest) continue
        if (m.type === 'have') {
          await send({ type: 'have', manifest: m.manifest, bitfield: fullBitfield(this.chunks()) })
          if (b.kind === 'endless-unsolicited' && !flooding) {
            flooding = true
            void this.unsolicited(stream, m.manifest)
          }
        } else if (m.type === 'manifest-request') {
          this.manifestRequests++
          const bytes = b.kind === 'other-image' ? b.manifestBytes : this.garbage.bytes(200)
          await send({ type: 'manifest', manifest: m.manifest, bytes })
        } else if (m.type === 'request') {
          this.requests++
          const length = Math.min(this.image.chunkSize, this.image.imageSize - m.chunk * this.image.chunkSize)
          if (b.kind === 'wrong-bytes') {
            await send({
              type: 'chunk',
              manifest: m.manifest,
              chunk: m.chunk,
              data: this.garbage.bytes(length),
            })
          } else if (b.kind === 'other-image') {
            const from = m.chunk * this.image.chunkSize
            const data = b.image.subarray(from, from + length)
            await send({ type: 'chunk', manifest: m.manifest, chunk: m.chunk, data })
          } else if (b.kind === 'endless-frame' && !flooding) {
            flooding = true
            void this.endless(stream, lengthPrefix(CHUNK_MESSAGE_BYTES_MAX + 1))
          }
          // 'silent': the request is taken, and never answered.
        }
      }
    } catch {
      // The device reset the stream.
    }
  }

  /** Writes `opening`, then random bytes, for as long as the stream takes them. */
  private async endless(stream: Stream, opening: Uint8Array): Promise<void> {
    const block = this.garbage.bytes(64 * 1024)
    try {
      this.sent(opening.byteLength)
      stream.send(opening)
      while (stream.status === 'open' && !this.stopped && this.bytesSent < ENDLESS_BYTES_MAX) {
        this.sent(block.byteLength)
        await pushed(stream, block)
      }
      this.ended(stream)
    } catch (cause) {
      this.ended(stream, cause)
    }
  }

  /** Whole chunk messages of the image, for chunks nobody asked for, back to back. */
  private async unsolicited(stream: Stream, manifest: ChunkMessage['manifest']): Promise<void> {
    const data = this.garbage.bytes(this.image.chunkSize)
    try {
      for (let i = 0; stream.status === 'open' && !this.stopped && this.bytesSent < ENDLESS_BYTES_MAX; i++) {
        const frame = frameOf([
          encodeChunkMessage({ type: 'chunk', manifest, chunk: i % this.chunks(), data }),
        ])
        this.sent(frame.byteLength)
        await pushed(stream, frame.subarray())
      }
      this.ended(stream)
    } catch (cause) {
      this.ended(stream, cause)
    }
  }

  private ended(stream: Stream, cause?: unknown): void {
    this.bytesDelivered = this.bytesSent - stream.writeBufferLength
    const name = (cause as Error | undefined)?.name
    this.endedBy =
      name === 'TimeoutError' || name === 'AbortError'
        ? 'stopped reading'
        : stream.status !== 'open' || cause !== undefined
          ? 'reset'
          : this.stopped
            ? null
            : 'cap'
  }

  /** Whether the device is still connected to this neighbour. */
  connected(to: string): boolean {
    return this.host.getConnections().some((c) => c.remotePeer.toString() === to && c.status === 'open')
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.host.stop()
  }
}
