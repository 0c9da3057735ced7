import type { Stream } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import { YAMUX_STREAM_WINDOW_BYTES_MAX } from '../../src/constants.js'
import { FrameReader, type FrameReaderOptions, frameOf } from '../../src/node/frame-reader.js'
import { FrameError } from '../../src/node/framing.js'
import type { Host } from '../../src/node/host.js'
import { eventually } from '../helpers/cluster.js'
import { loopbackHost } from '../helpers/hosts.js'

const PROTOCOL = '/fwmesh-test/frames/1'
const started: Host[] = []

/** Two real hosts on loopback and one stream between them: the writer's end and the reader. */
async function pair(
  options: Partial<FrameReaderOptions> = {},
): Promise<{ out: Stream; reader: FrameReader }> {
  const make = (seed: number) => loopbackHost(seed)
  const [a, b] = [await make(71), await make(72)]
  started.push(a, b)
  const inbound = new Promise<Stream>((resolve) => {
    void b.handle(PROTOCOL, (stream) => resolve(stream))
  })
  const out = await a.dialProtocol(b.getMultiaddrs()[0]!, PROTOCOL)
  out.send(new Uint8Array(0))
  const reader = new FrameReader(await inbound, { maxFrameBytes: 1 << 20, queuedFramesMax: 2, ...options })
  return { out, reader }
}

function bytes(n: number, seed: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff)
}

async function failureOf(read: Promise<unknown>): Promise<string> {
  try {
    await read
    return 'no failure'
  } catch (cause) {
    return cause instanceof FrameError ? cause.code : `not a FrameError: ${String(cause)}`
  }
}

describe('node: frame reader (real libp2p streams on loopback)', () => {
  afterEach(async () => {
    await Promise.all(started.splice(0).map((h) => h.stop()))
  })

  it('frames of every length class arrive whole and in order, however the bytes are cut', async () => {
    const { out, reader } = await pair()
    const sizes = [0, 1, 127, 128, 16_383, 16_384, 300_000]
    const sent = sizes.map((n, i) => bytes(n, i))
    // The first frame in two parts, split inside its length; the rest each as one send.
    const first = frameOf([sent[0]!, sent[1]!]).subarray()
    out.send(first.subarray(0, 1))
    await new Promise((r) => setTimeout(r, 20))
    out.send(first.subarray(1))
    for (const frame of sent.slice(2)) out.send(frameOf([frame.subarray(0, 7), frame.subarray(7)]))
    await out.close()
    const got: Uint8Array[] = []
    for (let f = await reader.read(); f !== null; f = await reader.read()) got.push(f)
    expect(got.map((f) => f.byteLength)).toEqual([1, ...sizes.slice(2)])
    for (const [i, f] of got.entries())
      expect(Buffer.compare(f, i === 0 ? sent[1]! : sent[i + 1]!), `frame ${i}`).toBe(0)
  })

  it('a frame longer than the limit is refused from its length alone', async () => {
    const { out, reader } = await pair({ maxFrameBytes: 1000 })
    out.send(new Uint8Array([0xe9, 0x07])) // 1001, and not one byte of its body
    expect(await failureOf(reader.read())).toBe('too-large')
  })

  it('a frame the owner does not admit is refused before its body is buffered', async () => {
    const lengths: number[] = []
    const { out, reader } = await pair({
      admit: (length) => {
        lengths.push(length)
        return length > 100 ? 'unrequested' : undefined
      },
    })
    out.send(frameOf([bytes(50, 1)]))
    expect((await reader.read())?.byteLength).toBe(50)
    out.send(new Uint8Array([0xc8, 0x01])) // 200
    expect(await failureOf(reader.read())).toBe('refused')
    expect(lengths).toEqual([50, 200])
  })

  it('the stream ending inside a frame is a fault; ending between frames is the end', async () => {
    const { out, reader } = await pair()
    out.send(frameOf([bytes(10, 2)]).subarray())
    out.send(new Uint8Array([20, 1, 2, 3]))
    await out.close()
    expect((await reader.read())?.byteLength).toBe(10)
    expect(await failureOf(reader.read())).toBe('reset')
  })

  it('a frame under way reports its progress, and time this side held the stream paused does not count', async () => {
    let now = 1_000
    const { out, reader } = await pair({ queuedFramesMax: 1, now: () => now })
    out.send(frameOf([bytes(10, 3)]))
    await eventually('the first frame is queued and the stream paused', () =>
      reader.stream.readStatus === 'paused' ? true : undefined,
    )
    now += 5_000 // paused by this side: not the sender's fault
    out.send(frameOf([bytes(40_000, 4)]).subarray(0, 1_000))
    expect((await reader.read())?.byteLength).toBe(10)
    await eventually('part of the second frame arrived', () => reader.progress())
    const start = now
    now += 3_000
    const p = reader.progress()
    expect(p?.length).toBe(40_000)
    expect(p?.received).toBeGreaterThan(0)
    expect(p?.activeMs).toBe(now - start)
    reader.abort(new FrameError('timeout', 'deadline'))
    expect(await failureOf(reader.read())).toBe('timeout')
  })

  it('frames nobody reads pause the stream, so the sender is held back instead of buffered', async () => {
    const { out, reader } = await pair()
    const frame = bytes(200_000, 5)
    for (let i = 0; i < 10; i++) out.send(frameOf([frame]))
    await eventually('the reader paused the stream', () =>
      reader.stream.readBufferLength > 0 ? true : undefined,
    )
    expect(reader.stream.readStatus).toBe('paused')
    // Two frames queued, and at most a window (YAMUX_STREAM_WINDOW_BYTES_MAX) beyond them: the
    // rest of the 2 MB waits at the sender.
    expect(out.writeBufferLength).toBeGreaterThan(
      2_000_000 - 400_000 - YAMUX_STREAM_WINDOW_BYTES_MAX - 20_000,
    )
    for (let i = 0; i < 10; i++) expect((await reader.read())?.byteLength, `frame ${i}`).toBe(200_000)
    expect(out.writeBufferLength).toBe(0)
  })
})
