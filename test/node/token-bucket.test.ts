import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { TokenBucket } from '../../src/node/token-bucket.js'

/** A clock the test moves by hand, and timers that move with it (vitest's fake timers). */
describe('node: token bucket', () => {
  let now = 0
  beforeEach(() => {
    vi.useFakeTimers()
    now = 0
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  async function granted(p: Promise<void>): Promise<boolean> {
    let done = false
    void p.then(() => {
      done = true
    })
    await vi.advanceTimersByTimeAsync(0)
    return done
  }

  it('a full bucket grants one burst at once, and the next take waits for the refill', async () => {
    const bucket = new TokenBucket(1000, 1000, () => now)
    expect(await granted(bucket.take(1000)), 'the first burst').toBe(true)
    const next = bucket.take(1000)
    expect(await granted(next), 'nothing left before any time passes').toBe(false)
    now = 1000
    await vi.advanceTimersByTimeAsync(1000)
    expect(await granted(next), 'one second refills the bucket').toBe(true)
  })

  it('tokens refunded for bytes not sent go to the next taker at once', async () => {
    const bucket = new TokenBucket(1000, 1000, () => now)
    await bucket.take(1000)
    // The upload pump took a chunk's tokens, then every waiting request was cancelled.
    bucket.refund(1000)
    expect(await granted(bucket.take(1000)), 'the refunded tokens are granted without a wait').toBe(true)
  })

  it('a refund never fills the bucket beyond one burst', async () => {
    const bucket = new TokenBucket(1000, 1000, () => now)
    bucket.refund(5000)
    expect(await granted(bucket.take(1000)), 'one burst').toBe(true)
    expect(await granted(bucket.take(1000)), 'not a second one').toBe(false)
  })
})
