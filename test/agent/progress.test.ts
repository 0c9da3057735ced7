import { describe, expect, it } from 'vitest'
import {
  checkProgress,
  decodeProgress,
  encodeProgress,
  type Progress,
  type ProgressBody,
  ProgressTable,
} from '../../src/agent/progress.js'
import { toHex } from '../../src/codec/bytes.js'
import { encodeCbor } from '../../src/codec/cbor.js'
import { cidOf } from '../../src/codec/cid.js'
import {
  PROGRESS_AGE_MS_MAX,
  PROGRESS_FUTURE_MS_MAX,
  PROGRESS_MESSAGE_BYTES_MAX,
} from '../../src/constants.js'
import { keyPairFromSeed } from '../../src/crypto/ed25519.js'

const CHAIN = 'test-chain'
const NOW = 1_700_000_000_000
const device = keyPairFromSeed(new Uint8Array(32).fill(1))
const other = keyPairFromSeed(new Uint8Array(32).fill(2))
const release = cidOf({ release: 1 })

function body(over: Partial<ProgressBody> = {}): ProgressBody {
  return {
    chain: CHAIN,
    release,
    device: device.publicKey,
    state: 'downloading',
    percent: 40,
    time: NOW,
    ...over,
  }
}

function decoded(over: Partial<ProgressBody> = {}): Progress {
  const r = decodeProgress(encodeProgress(body(over), device.secretKey), CHAIN)
  if (!r.ok) throw new Error(r.error.message)
  return r.value
}

describe('agent: progress messages (codec)', () => {
  it('a signed message decodes to what the device said, with its release id as a string', () => {
    const p = decoded({ state: 'failed', percent: undefined, reason: 'hook exited 3' })
    expect(p).toMatchObject({ chain: CHAIN, state: 'failed', reason: 'hook exited 3', time: NOW })
    expect(p.releaseId).toBe(release.toString())
    expect(toHex(p.device)).toBe(toHex(device.publicKey))
  })

  it('a message signed by another key than the device it names is refused: bad-signature', () => {
    const r = decodeProgress(encodeProgress(body(), other.secretKey), CHAIN)
    expect(r).toMatchObject({ ok: false, error: { code: 'bad-signature' } })
  })

  it('a signature under another domain (a transaction) does not pass for progress', async () => {
    const { sign } = await import('../../src/crypto/ed25519.js')
    const plain = { chain: CHAIN, release, device: device.publicKey, state: 'confirmed', time: NOW }
    const signature = sign(device.secretKey, 'fwmesh/tx/v1', encodeCbor(plain))
    const r = decodeProgress(encodeCbor({ body: plain, signature }), CHAIN)
    expect(r).toMatchObject({ ok: false, error: { code: 'bad-signature' } })
  })

  it('a message for another chain is refused: wrong-chain', () => {
    const r = decodeProgress(encodeProgress(body({ chain: 'other' }), device.secretKey), CHAIN)
    expect(r).toMatchObject({ ok: false, error: { code: 'wrong-chain' } })
  })

  it('an oversized message is refused before decoding: too-large', () => {
    const r = decodeProgress(new Uint8Array(PROGRESS_MESSAGE_BYTES_MAX + 1), CHAIN)
    expect(r).toMatchObject({ ok: false, error: { code: 'too-large' } })
  })

  it('garbage, an unknown state, a percent over 100 or an extra field are refused: malformed', () => {
    const sig = new Uint8Array(64)
    const plain = { chain: CHAIN, release, device: device.publicKey, time: NOW }
    for (const bad of [
      new Uint8Array([0xff, 0x00]),
      encodeCbor({ body: { ...plain, state: 'bricked' }, signature: sig }),
      encodeCbor({ body: { ...plain, state: 'downloading', percent: 101 }, signature: sig }),
      encodeCbor({ body: { ...plain, state: 'confirmed', extra: 1 }, signature: sig }),
      encodeCbor({ body: { ...plain, state: 'failed', reason: 'x'.repeat(201) }, signature: sig }),
    ])
      expect(decodeProgress(bad, CHAIN)).toMatchObject({ ok: false, error: { code: 'malformed' } })
  })

  it('the encoder bounds the reason and the percent, so a device never sends what nodes refuse', () => {
    const p = decoded({ state: 'failed', percent: 250, reason: 'y'.repeat(500) })
    expect(p.percent).toBe(100)
    expect(p.reason).toHaveLength(200)
  })

  it('checks the device is registered and the time is near: unregistered, future, too-old', () => {
    const p = decoded()
    expect(checkProgress(p, () => false, NOW)).toMatchObject({ code: 'unregistered' })
    expect(checkProgress(p, () => true, NOW)).toBeUndefined()
    expect(checkProgress(p, () => true, NOW - PROGRESS_FUTURE_MS_MAX - 1)).toMatchObject({ code: 'future' })
    expect(checkProgress(p, () => true, NOW + PROGRESS_AGE_MS_MAX + 1)).toMatchObject({ code: 'too-old' })
  })
})

describe('agent: the progress table (newest per release and device)', () => {
  it('keeps the newest message of a device; an older or equal one is stale', () => {
    const table = new ProgressTable(10)
    expect(table.offer(decoded({ percent: 10, time: NOW }))).toBe('stored')
    expect(table.offer(decoded({ percent: 50, time: NOW + 5 }))).toBe('stored')
    expect(table.offer(decoded({ percent: 20, time: NOW + 1 }))).toBe('stale')
    expect(table.offer(decoded({ percent: 50, time: NOW + 5 }))).toBe('stale')
    expect(table.get(release.toString(), toHex(device.publicKey))).toMatchObject({
      percent: 50,
      time: NOW + 5,
    })
    expect(table.size).toBe(1)
  })

  it('keeps one entry per release and device', () => {
    const table = new ProgressTable(10)
    table.offer(decoded())
    table.offer(decoded({ release: cidOf({ release: 2 }) }))
    expect(table.size).toBe(2)
    expect(table.get(cidOf({ release: 2 }).toString(), toHex(device.publicKey))).toBeDefined()
    expect(table.get(release.toString(), toHex(other.publicKey))).toBeUndefined()
  })

  it('is bounded: a full table drops the entry updated longest ago', () => {
    const table = new ProgressTable(3)
    const releases = [1, 2, 3, 4].map((n) => cidOf({ release: n }))
    for (const r of releases.slice(0, 3)) table.offer(decoded({ release: r }))
    // The first release's entry is updated: the second is now the one updated longest ago.
    table.offer(decoded({ release: releases[0]!, time: NOW + 1 }))
    table.offer(decoded({ release: releases[3]! }))
    expect(table.size).toBe(3)
    const dev = toHex(device.publicKey)
    expect(table.get(releases[1]!.toString(), dev)).toBeUndefined()
    for (const r of [releases[0]!, releases[2]!, releases[3]!])
      expect(table.get(r.toString(), dev)).toBeDefined()
  })
})
