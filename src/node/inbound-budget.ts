import { PBFT_INBOUND_BURST, PBFT_INBOUND_MESSAGES_PER_SEC } from '../constants.js'

/**
 * How many consensus messages another validator may hand this one per second: a token bucket
 * per sender, in messages. The reader of a validator's streams asks `delayMs` before it reads
 * the next frame and waits that long when the bucket is empty, so an over-fast sender is held
 * back by the stream's flow control (yamux stops granting it window) rather than dropped: an
 * honest burst is only delayed, and a byzantine validator flooding votes costs the others at
 * most PBFT_INBOUND_MESSAGES_PER_SEC decodes and signature checks a second, however fast it
 * writes. Time is passed in, so the rule is tested on virtual time.
 */
export class InboundBudget {
  private readonly tokens = new Map<number, { tokens: number; at: number }>()

  constructor(
    private readonly perSec = PBFT_INBOUND_MESSAGES_PER_SEC,
    private readonly burst = PBFT_INBOUND_BURST,
  ) {}

  /** Milliseconds to wait before the next message of `from` is read; 0 takes it now. */
  delayMs(from: number, now: number): number {
    let bucket = this.tokens.get(from)
    if (!bucket) {
      bucket = { tokens: this.burst, at: now }
      this.tokens.set(from, bucket)
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.perSec) / 1000)
    bucket.at = now
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return 0
    }
    return Math.ceil(((1 - bucket.tokens) * 1000) / this.perSec)
  }
}
