import { describe, expect, it } from 'vitest'
import { CHUNK_CONTROL_MESSAGE_BYTES_MAX, MANIFEST_BYTES_MAX } from '../../src/constants.js'
import { FrameCredits } from '../../src/transfer/frame-credits.js'
import { messageBytesMax } from '../../src/transfer/messages.js'

const KiB = 1024
const chunkFrame = messageBytesMax('chunk', {
  chunksMax: 1,
  chunkBytesMax: 256 * KiB,
  haveUpdateChunksMax: 1,
})

describe('transfer: frame credits (what a neighbour may send on the chunk protocol)', () => {
  it('control-sized frames are always admitted, from anyone', () => {
    const credits = new FrameCredits()
    for (let i = 0; i < 100; i++)
      expect(credits.admit('stranger', CHUNK_CONTROL_MESSAGE_BYTES_MAX)).toBeUndefined()
  })

  it('a large frame nobody asked for is refused, with its size in the reason', () => {
    expect(new FrameCredits().admit('stranger', 200_000)).toBe('an unrequested 200000-byte frame')
  })

  it('each request admits one chunk of the size asked, and no larger frame', () => {
    const credits = new FrameCredits()
    credits.grantChunk('a', 256 * KiB)
    expect(credits.admit('a', 4 * 1024 * KiB), 'a 4 MiB frame for a 256 KiB chunk').toMatch(/unrequested/)
    expect(credits.admit('a', chunkFrame)).toBeUndefined()
    expect(credits.admit('a', chunkFrame), 'the credit is spent').toMatch(/unrequested/)
    expect(credits.admit('b', chunkFrame), 'credits are per neighbour').toMatch(/unrequested/)
  })

  it('a manifest request admits one manifest-sized frame', () => {
    const credits = new FrameCredits()
    credits.grantManifest('a')
    expect(credits.admit('a', messageBytesMax('manifest') + 1)).toMatch(/unrequested/)
    expect(credits.admit('a', MANIFEST_BYTES_MAX)).toBeUndefined()
    expect(credits.admit('a', MANIFEST_BYTES_MAX)).toMatch(/unrequested/)
  })

  it('credits pile up only to the cap, and a dropped link forgets them', () => {
    const credits = new FrameCredits(3)
    for (let i = 0; i < 10; i++) credits.grantChunk('a', 256 * KiB)
    const admitted = Array.from({ length: 10 }, () => credits.admit('a', chunkFrame)).filter(
      (r) => r === undefined,
    )
    expect(admitted).toHaveLength(3)
    credits.grantChunk('a', 256 * KiB)
    credits.forget('a')
    expect(credits.admit('a', chunkFrame)).toMatch(/unrequested/)
  })
})
