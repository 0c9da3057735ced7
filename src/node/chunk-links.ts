import type { Connection, Stream } from '@libp2p/interface'
import { CHUNK_MESSAGE_BYTES_MAX, TRANSFER_WRITE_TIMEOUT_MS } from '../constants.js'
import { type ChunkMessage, decodeChunkMessage, encodeChunkMessage } from '../transfer/messages.js'
import { FramedStream } from './framing.js'
import type { Host } from './host.js'
import type { Logger } from './log.js'

/**
 * One neighbour's chunk stream: one long-lived stream per neighbour carries every image. Its
 * own writer task drains the queue, so no read loop ever waits on a write: two neighbours
 * uploading to each other would otherwise both stop reading and deadlock on full windows.
 */
interface Link {
  readonly peer: string
  framed: FramedStream | null
  readonly queue: Array<{ frame: Uint8Array; written?: () => void }>
  writing: boolean
}

export interface ChunkLinkHandlers {
  /** A decoded message from a neighbour; the read loop awaits it (back-pressure). */
  onMessage(peer: string, msg: ChunkMessage): Promise<void>
  /** The link to a neighbour broke or closed: forget what it announced. */
  onDropped(peer: string): void
}

/**
 * The chunk protocol's streams (`/fwmesh/<chain>/chunks/1`): opened lazily by whichever side
 * sends first, every frame decoded against the protocol's limits, an undecodable frame closes
 * the stream. What the messages mean is the handler's business (TransferService).
 */
export class ChunkLinks {
  private readonly links = new Map<string, Link>()
  private stopped = false

  constructor(
    private readonly host: Host,
    private readonly protocol: string,
    private readonly handlers: ChunkLinkHandlers,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.host.handle(this.protocol, (stream, connection) => this.accept(stream, connection), {
      maxInboundStreams: 64,
    })
  }

  /**
   * Queues a message for a neighbour and returns at once; the promise resolves when the frame
   * is written (or dropped with a broken link). Read loops never await it.
   */
  send(peer: string, msg: ChunkMessage): Promise<void> {
    if (this.stopped) return Promise.resolve()
    const link = this.linkOf(peer)
    const written = new Promise<void>((resolve) =>
      link.queue.push({ frame: encodeChunkMessage(msg), written: resolve }),
    )
    if (!link.writing) void this.writeLoop(link)
    return written
  }

  private linkOf(peer: string): Link {
    let link = this.links.get(peer)
    if (!link) {
      link = { peer, framed: null, queue: [], writing: false }
      this.links.set(peer, link)
    }
    return link
  }

  private adopt(peer: string, stream: Stream): void {
    const link = this.linkOf(peer)
    const framed = new FramedStream(stream, CHUNK_MESSAGE_BYTES_MAX)
    // Both sides may open a stream at once: read from every stream, write on the first.
    if (!link.framed) link.framed = framed
    void this.readLoop(link, framed)
  }

  private accept(stream: Stream, connection: Connection): void {
    this.adopt(connection.remotePeer.toString(), stream)
  }

  private async writeLoop(link: Link): Promise<void> {
    link.writing = true
    try {
      while (link.queue.length > 0 && !this.stopped) {
        if (!link.framed) {
          const connection = this.host.getConnections().find((c) => c.remotePeer.toString() === link.peer)
          if (!connection) throw new Error('not connected')
          const stream = await connection.newStream(this.protocol, {
            signal: AbortSignal.timeout(TRANSFER_WRITE_TIMEOUT_MS),
          })
          if (link.framed) stream.abort(new Error('duplicate link'))
          else this.adopt(link.peer, stream)
        }
        const item = link.queue.shift()!
        await link.framed!.write(item.frame, TRANSFER_WRITE_TIMEOUT_MS)
        item.written?.()
      }
    } catch (cause) {
      this.log.debug({ peer: link.peer, err: (cause as Error).message }, 'chunk stream broke')
      this.drop(link)
    } finally {
      link.writing = false
    }
  }

  private drop(link: Link): void {
    if (this.links.get(link.peer) === link) this.links.delete(link.peer)
    link.framed?.abort('link dropped')
    for (const item of link.queue) item.written?.()
    link.queue.length = 0
    this.handlers.onDropped(link.peer)
  }

  private async readLoop(link: Link, framed: FramedStream): Promise<void> {
    try {
      for (;;) {
        const frame = await framed.read(3_600_000)
        if (frame === null || this.stopped) return
        const msg = decodeChunkMessage(frame)
        if (!msg.ok) {
          this.log.warn(
            { peer: link.peer, err: msg.error.message },
            'undecodable chunk message; closing the stream',
          )
          framed.abort('undecodable message')
          return
        }
        await this.handlers.onMessage(link.peer, msg.value)
      }
    } catch (cause) {
      this.log.debug({ peer: link.peer, err: (cause as Error).message }, 'chunk stream ended')
    } finally {
      if (this.links.get(link.peer) === link && link.framed === framed) this.drop(link)
      else framed.abort('stream ended')
    }
  }

  stop(): void {
    this.stopped = true
    for (const link of this.links.values()) link.framed?.abort('stopping')
    this.links.clear()
  }
}
