import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { isWaveOpen, ROLLOUT_BUCKETS, rolloutBucket, waveOpensAt } from '../../src/agent/rollout.js'
import { keyPairFromSeed } from '../../src/crypto/ed25519.js'
import { Prng } from '../../src/prng.js'
import { DAY, HOUR, T0 } from './world.js'

describe('agent: rollout', () => {
  it('agent: rollout: the bucket is the first four bytes of SHA-256 of the key, big-endian, mod 10,000', () => {
    const prng = Prng.fromSeed('rollout-oracle')
    for (let i = 0; i < 50; i++) {
      const key = prng.bytes(32)
      const oracle = createHash('sha256').update(key).digest().readUInt32BE(0) % 10_000
      expect(rolloutBucket(key), `key ${i}`).toBe(oracle)
      expect(rolloutBucket(key), `key ${i} again`).toBe(oracle)
    }
    expect(rolloutBucket(new Uint8Array(32))).toBe(0x66687aad % 10_000)
  })

  it('agent: rollout: waves of 1 %, 10 % and 50 % admit their share of 10,000 real device keys', () => {
    // 10,000 keys: a binomial share p has a standard deviation of sqrt(p(1-p)/n), 0.3 % at
    // 10 %; the tolerances are about five of them, so a correct hash never fails by chance,
    // while a biased one (a byte order or modulo mistake) is far off.
    const prng = Prng.fromSeed('fleet')
    const buckets = Array.from({ length: 10_000 }, () =>
      rolloutBucket(keyPairFromSeed(prng.bytes(32)).publicKey),
    )
    const share = (percent: number) => buckets.filter((b) => b < percent * 100).length / buckets.length
    const tolerances: Array<[number, number]> = [
      [1, 0.005],
      [10, 0.015],
      [50, 0.025],
    ]
    for (const [percent, tolerance] of tolerances) {
      expect(Math.abs(share(percent) - percent / 100), `${percent} % wave`).toBeLessThanOrEqual(tolerance)
    }
    // Every tenth of the range holds 10 % ± 1.5 %: no clumping anywhere.
    for (let decile = 0; decile < 10; decile++) {
      const inDecile = buckets.filter((b) => Math.floor(b / 1000) === decile).length / buckets.length
      expect(Math.abs(inDecile - 0.1), `decile ${decile}`).toBeLessThanOrEqual(0.015)
    }
    expect(buckets.every((b) => Number.isInteger(b) && b >= 0 && b < ROLLOUT_BUCKETS)).toBe(true)
  })

  const plan = {
    start: T0,
    waves: [
      { percent: 10, afterMs: 0 },
      { percent: 50, afterMs: HOUR },
      { percent: 100, afterMs: DAY },
    ],
  }
  const cases: Array<[number, number | undefined]> = [
    [0, T0],
    [999, T0],
    [1000, T0 + HOUR],
    [4999, T0 + HOUR],
    [5000, T0 + DAY],
    [9999, T0 + DAY],
  ]
  for (const [bucket, opens] of cases) {
    it(`agent: rollout: bucket ${bucket} opens ${opens === undefined ? 'never' : `at start + ${opens - T0} ms`}`, () => {
      expect(waveOpensAt(plan, bucket), `bucket ${bucket}`).toBe(opens)
    })
  }

  it('agent: rollout: a plan that stops at 50 % never admits bucket 5000', () => {
    const half = { start: T0, waves: [{ percent: 50, afterMs: 0 }] }
    expect(waveOpensAt(half, 4999)).toBe(T0)
    expect(waveOpensAt(half, 5000)).toBeUndefined()
    expect(isWaveOpen(half, 5000, T0 + 365 * DAY)).toBe(false)
  })

  it('agent: rollout: a wave opens exactly at start + afterMs, not a millisecond before', () => {
    expect(isWaveOpen(plan, 1000, T0 + HOUR - 1)).toBe(false)
    expect(isWaveOpen(plan, 1000, T0 + HOUR)).toBe(true)
  })
})
