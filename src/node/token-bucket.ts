import { monotonicClock } from './clock.js'

/**
 * A token bucket for bandwidth limits (gateways share their uplink). `take(n)` resolves once
 * `n` bytes may be sent; waiters are served in order. A rate of 0 means unlimited.
 */
export class TokenBucket {
  private tokens: number
  private last: number
  private chain: Promise<void> = Promise.resolve()

  constructor(
    readonly bytesPerSec: number,
    /** The burst: at most this many bytes go out back to back. */
    readonly burstBytes: number = Math.max(bytesPerSec / 4, 64 * 1024),
    private readonly now: () => number = monotonicClock.now,
  ) {
    this.tokens = this.burstBytes
    this.last = this.now()
  }

  take(bytes: number): Promise<void> {
    if (this.bytesPerSec <= 0) return Promise.resolve()
    const turn = this.chain.then(() => this.waitFor(bytes))
    this.chain = turn.catch(() => {})
    return turn
  }

  /** Gives back tokens taken for bytes that were not sent after all (at most a full bucket). */
  refund(bytes: number): void {
    if (this.bytesPerSec <= 0 || bytes <= 0) return
    this.tokens = Math.min(this.burstBytes, this.tokens + bytes)
  }

  private async waitFor(bytes: number): Promise<void> {
    for (;;) {
      const now = this.now()
      this.tokens = Math.min(this.burstBytes, this.tokens + ((now - this.last) * this.bytesPerSec) / 1000)
      this.last = now
      // A message larger than the burst may go once the bucket is full, leaving a debt.
      if (this.tokens >= Math.min(bytes, this.burstBytes)) {
        this.tokens -= bytes
        return
      }
      const missing = Math.min(bytes, this.burstBytes) - this.tokens
      await new Promise((resolve) => setTimeout(resolve, Math.ceil((missing * 1000) / this.bytesPerSec)))
    }
  }
}
