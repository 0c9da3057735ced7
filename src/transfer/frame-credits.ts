import { CHUNK_CONTROL_MESSAGE_BYTES_MAX, LARGE_FRAME_CREDIT_MAX } from '../constants.js'
import { DEFAULT_CHUNK_MESSAGE_LIMITS, messageBytesMax } from './messages.js'

/**
 * Which large frames a neighbour may send on the chunk protocol: "only what was asked of it,
 * and only those bytes". A frame up to a control message's size is always admitted; a larger
 * one (a chunk, a manifest) spends a credit granted when this node asked for one, and may be no
 * larger than what was asked. Each pool is capped at LARGE_FRAME_CREDIT_MAX, which leaves room
 * for a chunk already on its way when its request was cancelled. Pure bookkeeping; the node's
 * chunk links ask `admit` with a frame's length before buffering any of it.
 */
interface Credit {
  chunks: number
  /**
   * The largest chunk message asked of it: a chunk of its image's chunk size plus the envelope.
   * A peer asked for 256 KiB chunks cannot make this node buffer a 4 MiB frame, and a frame it
   * stalls inside is dropped by the deadline of a chunk (26 s), not of 4 MiB (4.4 min).
   */
  chunkMessageBytesMax: number
  /** Manifests asked for; their size is unknown until they arrive (up to MANIFEST_BYTES_MAX). */
  manifests: number
}

export class FrameCredits {
  private readonly credits = new Map<string, Credit>()

  constructor(private readonly creditMax = LARGE_FRAME_CREDIT_MAX) {}

  /** This node asked `peer` for a chunk of `chunkBytes` bytes at most. */
  grantChunk(peer: string, chunkBytes: number): void {
    const credit = this.of(peer)
    credit.chunks = Math.min(this.creditMax, credit.chunks + 1)
    credit.chunkMessageBytesMax = Math.max(
      credit.chunkMessageBytesMax,
      messageBytesMax('chunk', { ...DEFAULT_CHUNK_MESSAGE_LIMITS, chunkBytesMax: chunkBytes }),
    )
  }

  /** This node asked `peer` for a manifest. */
  grantManifest(peer: string): void {
    const credit = this.of(peer)
    credit.manifests = Math.min(this.creditMax, credit.manifests + 1)
  }

  /**
   * Whether `peer` may send a frame of `length` bytes; a large one spends a credit (a chunk
   * credit first, a manifest credit for the rest). A reason when it may not.
   */
  admit(peer: string, length: number): string | undefined {
    if (length <= CHUNK_CONTROL_MESSAGE_BYTES_MAX) return undefined
    const credit = this.credits.get(peer)
    if (credit && credit.chunks > 0 && length <= credit.chunkMessageBytesMax) {
      credit.chunks--
      return undefined
    }
    if (credit && credit.manifests > 0 && length <= messageBytesMax('manifest')) {
      credit.manifests--
      return undefined
    }
    return `an unrequested ${length}-byte frame`
  }

  /** The link to `peer` ended: what it was asked on it is void. */
  forget(peer: string): void {
    this.credits.delete(peer)
  }

  private of(peer: string): Credit {
    let credit = this.credits.get(peer)
    if (!credit) {
      credit = { chunks: 0, chunkMessageBytesMax: 0, manifests: 0 }
      this.credits.set(peer, credit)
    }
    return credit
  }
}
