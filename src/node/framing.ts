import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'

/**
 * Length-prefixed messages on a libp2p stream, each bounded in size. A peer that announces a
 * larger frame gets its stream aborted before anything is buffered (libp2p's decoder checks
 * the varint length first), and a read that takes too long fails instead of hanging.
 */
export class FramedStream {
  private readonly lp: ReturnType<typeof lpStream<Stream>>

  constructor(
    readonly stream: Stream,
    readonly maxFrameBytes: number,
  ) {
    this.lp = lpStream(stream, { maxDataLength: maxFrameBytes, maxBufferSize: maxFrameBytes + 16 })
  }

  /** The next frame, or null when the remote closed its side cleanly. */
  async read(timeoutMs: number): Promise<Uint8Array | null> {
    try {
      const frame = await this.lp.read({ signal: AbortSignal.timeout(timeoutMs) })
      return frame.subarray()
    } catch (cause) {
      const name = (cause as Error).name
      if (name === 'UnexpectedEOFError') return null
      throw new FrameError(frameErrorCode(name), (cause as Error).message)
    }
  }

  async write(frame: Uint8Array, timeoutMs: number): Promise<void> {
    if (frame.byteLength > this.maxFrameBytes) {
      throw new FrameError(
        'too-large',
        `refusing to send a ${frame.byteLength}-byte frame (limit ${this.maxFrameBytes})`,
      )
    }
    await this.lp.write(frame, { signal: AbortSignal.timeout(timeoutMs) })
  }

  async close(): Promise<void> {
    await this.stream.close().catch(() => this.stream.abort(new Error('close failed')))
  }

  abort(reason: string): void {
    this.stream.abort(new Error(reason))
  }
}

export type FrameErrorCode = 'too-large' | 'timeout' | 'reset' | 'refused'

/** A stream-level fault: the peer sent an oversized frame, stalled, or went away. */
export class FrameError extends Error {
  override name = 'FrameError'
  constructor(
    readonly code: FrameErrorCode,
    message: string,
  ) {
    super(message)
  }
}

function frameErrorCode(name: string): FrameErrorCode {
  if (name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError') return 'too-large'
  if (name === 'AbortError' || name === 'TimeoutError') return 'timeout'
  return 'reset'
}
