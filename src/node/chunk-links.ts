import type { Connection, Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import {
  CHUNK_INBOUND_STREAMS_MAX,
  CHUNK_LINK_QUEUED_FRAMES_MAX,
  CHUNK_LINK_WRITE_BATCH_MAX,
  CHUNK_MESSAGE_BYTES_MAX,
  FRAME_DEADLINE_BASE_MS,
  FRAME_FLOOR_BYTES_PER_SEC,
  FRAME_WATCHDOG_INTERVAL_MS,
  TRANSFER_WRITE_TIMEOUT_MS,
} from '../constants.js'
import { type ChunkMessage, decodeChunkMessage, encodeChunkMessage } from '../transfer/messages.js'
import { monotonicClock } from './clock.js'
import { FrameReader, frameOf } from './frame-reader.js'
import { FrameError } from './framing.js'
import type { Host } from './host.js'
import type { Logger } from './log.js'

/**
 * One neighbour's chunk stream: one long-lived stream per neighbour carries every image. Its
 * own writer task drains the queue, so no read loop ever waits on a write: two neighbours
 * uploading to each other would otherwise both stop reading and deadlock on full windows.
 */
interface Link {
  readonly peer: string
  /** The stream this side writes on: the first one opened, by either side. */
  stream: Stream | null
  /**
   * A reader for every stream of the link: both sides may open one at once, and a peer may open
   * up to CHUNK_INBOUND_STREAMS_MAX. Each frame on any of them is under the same deadline.
   */
  readonly readers: Set<FrameReader>
  readonly queue: Array<{ parts: readonly Uint8Array[]; written?: () => void }>
  writing: boolean
  /** A write loop is set to start once this turn of the event loop has queued what it will. */
  scheduled: boolean
  /** Since when the writer has waited for the stream to drain, and for how many bytes. */
  drainingSince: number | null
  drainingBytes: number
}

export interface ChunkLinkHandlers {
  /** A decoded message from a neighbour; the read loop awaits it (back-pressure). */
  onMessage(peer: string, msg: ChunkMessage): Promise<void>
  /** The link to a neighbour broke or closed: forget what it announced. */
  onDropped(peer: string, misbehaved: boolean): void
  /**
   * Judges a frame's length before any of it is buffered: a reason refuses it, and the link is
   * dropped (a neighbour sending what nobody asked for).
   */
  admit?(peer: string, length: number): string | undefined
}

/** What a frame of `bytes` may take, at the floor rate (constants.ts says why). */
export function frameDeadlineMs(bytes: number): number {
  return FRAME_DEADLINE_BASE_MS + (bytes * 1000) / FRAME_FLOOR_BYTES_PER_SEC
}

/**
 * The chunk links' deadlines, injectable so a test can see a stalled frame dropped without
 * waiting the real deadline (26 s for a 256 KiB chunk). A node uses the defaults.
 */
export interface ChunkLinkOptions {
  /** What a frame of `bytes` may take; `frameDeadlineMs` by default. */
  readonly frameDeadlineMs?: (bytes: number) => number
  /** How often the deadlines are checked; FRAME_WATCHDOG_INTERVAL_MS by default. */
  readonly watchdogIntervalMs?: number
}

/**
 * The chunk protocol's streams (`/fwmesh/<chain>/chunks/1`): opened lazily by whichever side
 * sends first, every frame decoded against the protocol's limits, an undecodable frame closes
 * the stream. What the messages mean is the handler's business (TransferService).
 *
 * Deadlines are one timer for all links (FRAME_WATCHDOG_INTERVAL_MS), none per frame: a link
 * whose incoming frame on any of its streams, or whose wait for the neighbour to take our bytes,
 * outlasts `frameDeadlineMs` of its size is dropped.
 */
/** Chunk-protocol traffic since the node started: messages and their bytes, each way. */
export interface ChunkTraffic {
  messagesSent: number
  messagesReceived: number
  bytesSent: number
  bytesReceived: number
}

export class ChunkLinks {
  private readonly links = new Map<string, Link>()
  private stopped = false
  /** Counted as messages are queued and decoded (operators' metrics; the simulator's CPU calibration). */
  readonly traffic: ChunkTraffic = { messagesSent: 0, messagesReceived: 0, bytesSent: 0, bytesReceived: 0 }
  private watchdog: NodeJS.Timeout | undefined

  constructor(
    private readonly host: Host,
    private readonly protocol: string,
    private readonly handlers: ChunkLinkHandlers,
    private readonly log: Logger,
    private readonly options: ChunkLinkOptions = {},
  ) {}

  async start(): Promise<void> {
    await this.host.handle(this.protocol, (stream, connection) => this.accept(stream, connection), {
      maxInboundStreams: CHUNK_INBOUND_STREAMS_MAX,
    })
    // Deadlines measure how long a frame or a drain took here: elapsed time, which a step of
    // the wall clock (NTP on a device that booted without one) must not turn into a timeout.
    this.watchdog = setInterval(
      () => this.checkDeadlines(monotonicClock.now()),
      this.options.watchdogIntervalMs ?? FRAME_WATCHDOG_INTERVAL_MS,
    ).unref()
  }

  /**
   * The frames being received now, with the bytes buffered for each so far: what neighbours
   * make this node hold in unfinished frames (for tests and diagnostics).
   */
  receiving(): Array<{ readonly peer: string; readonly length: number; readonly received: number }> {
    const frames: Array<{ peer: string; length: number; received: number }> = []
    for (const link of this.links.values()) {
      for (const reader of link.readers) {
        const p = reader.progress()
        if (p) frames.push({ peer: link.peer, length: p.length, received: p.received })
      }
    }
    return frames
  }

  /**
   * Queues a message for a neighbour and returns at once; the promise resolves when the frame
   * is handed to the stream (or dropped with a broken link). Read loops never await it.
   */
  send(peer: string, msg: ChunkMessage): Promise<void> {
    return this.sendParts(peer, [encodeChunkMessage(msg)])
  }

  /** `send` for a message already encoded in parts (a chunk's data is not copied). */
  sendParts(peer: string, parts: readonly Uint8Array[]): Promise<void> {
    if (this.stopped) return Promise.resolve()
    this.traffic.messagesSent++
    for (const part of parts) this.traffic.bytesSent += part.byteLength
    const link = this.linkOf(peer)
    const written = new Promise<void>((resolve) => link.queue.push({ parts, written: resolve }))
    // The write waits for the end of this turn, so what the turn queued for this neighbour
    // (a chunk's have-updates, requests, a chunk) leaves as one write: one yamux frame, one
    // noise seal, one socket write and one window update back, not one of each per message.
    if (!link.writing && !link.scheduled) {
      link.scheduled = true
      setImmediate(() => {
        link.scheduled = false
        if (!link.writing) void this.writeLoop(link)
      })
    }
    return written
  }

  private linkOf(peer: string): Link {
    let link = this.links.get(peer)
    if (!link) {
      link = {
        peer,
        stream: null,
        readers: new Set(),
        queue: [],
        writing: false,
        scheduled: false,
        drainingSince: null,
        drainingBytes: 0,
      }
      this.links.set(peer, link)
    }
    return link
  }

  private adopt(peer: string, stream: Stream): void {
    const link = this.linkOf(peer)
    const reader = new FrameReader(stream, {
      maxFrameBytes: CHUNK_MESSAGE_BYTES_MAX,
      queuedFramesMax: CHUNK_LINK_QUEUED_FRAMES_MAX,
      admit: this.handlers.admit ? (length) => this.handlers.admit?.(peer, length) : undefined,
    })
    // Both sides may open a stream at once: read from every stream, write on the first.
    if (!link.stream) link.stream = stream
    link.readers.add(reader)
    void this.readLoop(link, reader)
  }

  private accept(stream: Stream, connection: Connection): void {
    this.adopt(connection.remotePeer.toString(), stream)
  }

  private async writeLoop(link: Link): Promise<void> {
    link.writing = true
    try {
      while (link.queue.length > 0 && !this.stopped) {
        if (!link.stream) {
          const connection = this.host.getConnections().find((c) => c.remotePeer.toString() === link.peer)
          if (!connection) throw new Error('not connected')
          const stream = await connection.newStream(this.protocol, {
            signal: AbortSignal.timeout(TRANSFER_WRITE_TIMEOUT_MS),
          })
          // Both sides may have opened one at once. Neither is aborted: each side aborting its
          // own left both with the other's stream reset under them, and both dropped the link
          // (seen as resets in the first seconds of every rollout). The spare stays idle.
          this.adopt(link.peer, stream)
        }
        const stream = link.stream!
        // Everything queued so far goes in one send, frames back to back.
        const items = link.queue.splice(0, CHUNK_LINK_WRITE_BATCH_MAX)
        const batch = new Uint8ArrayList<ArrayBufferLike>()
        for (const item of items) {
          const frame = frameOf(item.parts)
          if (frame.byteLength - 5 > CHUNK_MESSAGE_BYTES_MAX)
            throw new FrameError('too-large', `refusing to send a ${frame.byteLength}-byte frame`)
          batch.append(frame)
        }
        if (!stream.send(batch)) {
          // The stream holds the frames; wait until the neighbour takes enough of them. The
          // watchdog drops the link if that outlasts the deadline for what is waiting.
          link.drainingSince = monotonicClock.now()
          link.drainingBytes = stream.writeBufferLength
          try {
            await stream.onDrain()
          } finally {
            link.drainingSince = null
          }
        }
        for (const item of items) item.written?.()
      }
    } catch (cause) {
      this.log.debug({ peer: link.peer, err: (cause as Error).message }, 'chunk stream broke')
      this.drop(link, false)
    } finally {
      link.writing = false
    }
  }

  /** Drops every link whose incoming frame or outgoing drain has outlasted its deadline. */
  private checkDeadlines(now: number): void {
    const deadlineOf = this.options.frameDeadlineMs ?? frameDeadlineMs
    for (const link of this.links.values()) {
      // Every stream's frame, not only the one we write on: a peer that opened spare streams
      // could otherwise leave a frame's buffer on each for as long as the connection lasts.
      const stalled = [...link.readers].find((reader) => {
        const incoming = reader.progress()
        return incoming !== undefined && incoming.activeMs > deadlineOf(incoming.length)
      })
      if (stalled) {
        const incoming = stalled.progress()
        this.log.warn(
          { peer: link.peer, bytes: incoming?.length, received: incoming?.received, ms: incoming?.activeMs },
          'a neighbour stalled inside a frame; dropping the link',
        )
        stalled.abort(new FrameError('timeout', 'frame deadline passed'))
        continue
      }
      if (link.drainingSince !== null && now - link.drainingSince > deadlineOf(link.drainingBytes)) {
        this.log.warn(
          { peer: link.peer, bytes: link.drainingBytes, ms: now - link.drainingSince },
          'a neighbour stopped taking our frames; dropping the link',
        )
        this.drop(link, true)
      }
    }
  }

  /** `misbehaved`: the neighbour broke a rule (a refused, stalled or undecodable frame). */
  private drop(link: Link, misbehaved: boolean): void {
    if (this.links.get(link.peer) === link) this.links.delete(link.peer)
    for (const reader of link.readers) reader.abort(new FrameError('reset', 'link dropped'))
    link.stream?.abort(new Error('link dropped'))
    for (const item of link.queue) item.written?.()
    link.queue.length = 0
    this.handlers.onDropped(link.peer, misbehaved)
  }

  /**
   * Reads one stream of a link until it ends. A fault on any of the link's streams (a refused,
   * oversized, stalled or undecodable frame, a reset) drops the whole link: the neighbour
   * misbehaved or went away, whichever stream it used. A spare stream the neighbour closed
   * cleanly is only closed.
   */
  private async readLoop(link: Link, reader: FrameReader): Promise<void> {
    let faulted = false
    let misbehaved = false
    try {
      for (;;) {
        const frame = await reader.read()
        if (frame === null || this.stopped) return
        const msg = decodeChunkMessage(frame)
        if (!msg.ok) {
          this.log.warn(
            { peer: link.peer, err: msg.error.message },
            'undecodable chunk message; closing the stream',
          )
          reader.abort(new FrameError('refused', 'undecodable message'))
          faulted = true
          misbehaved = true
          return
        }
        this.traffic.messagesReceived++
        this.traffic.bytesReceived += frame.byteLength
        await this.handlers.onMessage(link.peer, msg.value)
      }
    } catch (cause) {
      faulted = true
      misbehaved = cause instanceof FrameError && cause.code !== 'reset'
      const level = misbehaved ? 'warn' : 'debug'
      this.log[level]({ peer: link.peer, err: (cause as Error).message }, 'chunk stream ended')
    } finally {
      link.readers.delete(reader)
      if (this.links.get(link.peer) === link && (faulted || reader.stream === link.stream))
        this.drop(link, misbehaved)
      else reader.stream.abort(new Error('stream ended'))
    }
  }

  stop(): void {
    this.stopped = true
    clearInterval(this.watchdog)
    for (const link of this.links.values()) {
      link.stream?.abort(new Error('stopping'))
      for (const reader of link.readers) reader.stream.abort(new Error('stopping'))
    }
    this.links.clear()
  }
}
