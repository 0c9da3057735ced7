import type { Stream } from '@libp2p/interface'
import fc from 'fast-check'
import { CHUNK_LINK_QUEUED_FRAMES_MAX, CHUNK_MESSAGE_BYTES_MAX } from '../../src/constants.js'
import { FrameReader, frameOf } from '../../src/node/frame-reader.js'
import { FrameError } from '../../src/node/framing.js'
import { Prng } from '../../src/prng.js'
import { decodeManifest } from '../../src/transfer/manifest.js'
import { decodeChunkMessage } from '../../src/transfer/messages.js'
import { chunkMessageBytes, chunkStreams, manifests } from './corpus.js'
import { decodeResultVerdict, fuzz, mutatedEncoding, mutatedValue, type Verdict } from './harness.js'

// The chunk protocol: its messages, the manifests it carries, and the length-prefixed frames
// they arrive in.

fuzz({
  name: 'chunk messages',
  corpus: chunkMessageBytes,
  run: (input) => decodeChunkMessage(input),
  verdict: (r) => decodeResultVerdict(r),
})

fuzz({
  name: 'manifests',
  corpus: manifests,
  run: (input) => decodeManifest(input),
  verdict: (r) =>
    decodeResultVerdict(r, [
      'too-many-chunks',
      'chunk-count-mismatch',
      'chunk-hashes-mismatch',
      'cid-mismatch',
    ]),
})

/** A stream as FrameReader sees one: `message` events, then the remote closing its side. */
class FakeStream extends EventTarget {
  aborted: unknown = undefined
  pause(): void {}
  resume(): void {}
  abort(reason: unknown): void {
    this.aborted = reason
  }
}

const FRAME_ERROR_CODES = ['too-large', 'timeout', 'reset', 'refused']

/**
 * Feeds a byte stream to a FrameReader in pieces (their sizes drawn from a PRNG seeded by the
 * input, so a case replays exactly) and decodes every frame it yields as a chunk message, as a
 * chunk link does. The outcome: the decode results, and the reader's error if it failed.
 */
async function readFrames(input: Uint8Array) {
  const stream = new FakeStream()
  const reader = new FrameReader(stream as unknown as Stream, {
    maxFrameBytes: CHUNK_MESSAGE_BYTES_MAX,
    queuedFramesMax: CHUNK_LINK_QUEUED_FRAMES_MAX,
  })
  const prng = Prng.fromSeed(`frames/${input.byteLength}/${input[0] ?? 0}/${input[input.length - 1] ?? 0}`)
  for (let at = 0; at < input.byteLength; ) {
    const take = 1 + Math.floor(prng.next() * Math.min(input.byteLength - at, 512))
    stream.dispatchEvent(Object.assign(new Event('message'), { data: input.subarray(at, at + take) }))
    at += take
  }
  stream.dispatchEvent(new Event('remoteCloseWrite'))
  const decoded: ReturnType<typeof decodeChunkMessage>[] = []
  try {
    for (let frame = await reader.read(); frame !== null; frame = await reader.read())
      decoded.push(decodeChunkMessage(frame))
    return { decoded, failure: undefined as unknown }
  } catch (cause) {
    return { decoded, failure: cause }
  }
}

/** Streams of valid frames whose messages were mutated as values. */
const framedMutations = fc
  .array(mutatedValue(chunkMessageBytes, []), { minLength: 1, maxLength: 3 })
  .map((messages) => new Uint8Array(Buffer.concat(messages.map((m) => frameOf([m]).subarray()))))

fuzz({
  name: 'chunk frames',
  corpus: chunkStreams,
  run: readFrames,
  verdict: ({ decoded, failure }): Verdict => {
    if (failure !== undefined) {
      if (!(failure instanceof FrameError)) return { wrong: `the reader threw ${String(failure)}` }
      if (!FRAME_ERROR_CODES.includes(failure.code))
        return { wrong: `a FrameError with code ${failure.code}` }
    }
    let rejected: Verdict | undefined
    for (const r of decoded) {
      const v = decodeResultVerdict(r)
      if ('wrong' in v) return v
      if ('rejected' in v) rejected ??= v
    }
    if (failure instanceof FrameError) return { rejected: `frame ${failure.code}` }
    return rejected ?? { accepted: true }
  },
  generators: [
    ['bytes', 0.2, fc.uint8Array({ maxLength: 1024 })],
    ['mutated', 0.4, mutatedEncoding(chunkStreams)],
    ['values', 0.4, framedMutations],
  ],
})
