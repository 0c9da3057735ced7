/**
 * The hostile peers of `npm run bench -- hostile`: libp2p hosts made with the node's own
 * `createHost` (the same tcp + noise + yamux stack) in the bench's process, each connected to
 * the attacked device and speaking its chunk protocol badly. Every attack counts the streams it
 * tried, those the node refused or reset, and when the last of them ended.
 */
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { CID } from '../../src/codec/cid.js'
import { CHUNK_INBOUND_STREAMS_MAX, CHUNK_MESSAGE_BYTES_MAX } from '../../src/constants.js'
import { generateKeyPair } from '../../src/crypto/ed25519.js'
import { frameOf, lengthPrefix } from '../../src/node/frame-reader.js'
import { FramedStream } from '../../src/node/framing.js'
import { createHost, type Host } from '../../src/node/host.js'
import { Prng } from '../../src/prng.js'
import { fullBitfield } from '../../src/transfer/bitfield.js'
import {
  type ChunkMessage,
  chunkProtocolId,
  decodeChunkMessage,
  encodeChunkDataParts,
  encodeChunkMessage,
} from '../../src/transfer/messages.js'

/** What the attacks need to know of their target and of the image it downloads. */
export interface Target {
  /** The device's multiaddr, ending in /p2p/<peer id>. */
  readonly address: string
  readonly chainId: string
  readonly manifest: CID
  readonly chunkCount: number
  readonly chunkBytes: number
}

/** One attack's outcome, as the bench prints it. */
export interface AttackReport {
  readonly hosts: number
  readonly streamsTried: number
  /** Streams libp2p refused to open (over the protocol's inbound limit, or negotiation failed). */
  readonly streamsRefusedAtOpen: number
  /** Frames begun on open streams (a length and some or all of a body). */
  readonly framesStarted: number
  /** Bytes handed to the streams; the node reads fewer when it resets a stream early. */
  readonly bytesQueued: number
  /** Streams the node reset or closed, refused ones included. */
  readonly streamsDroppedByNode: number
  readonly streamsStillOpen: number
  /** Whether the node ended every stream this attack got open. */
  readonly allDropped: boolean
  /** From the attack's start to the end of its last stream; null while any is still open. */
  readonly attackerDroppedAfterMs: number | null
}

/** Streams one attack opened, and when each ended. */
class Tally {
  readonly startedAt = performance.now()
  private tried = 0
  private refused = 0
  private framesStarted = 0
  private bytesQueued = 0
  private readonly open = new Set<Stream>()
  private ended = 0
  private lastEndedAt: number | null = null

  constructor(private readonly hosts: number) {}

  /** Opens a chunk stream from `host` to the target; null when the node refused it. */
  async openStream(host: Host, target: Target): Promise<Stream | null> {
    this.tried++
    try {
      const stream = await host.dialProtocol(multiaddr(target.address), chunkProtocolId(target.chainId), {
        maxOutboundStreams: 1024,
        signal: AbortSignal.timeout(10_000),
      })
      if (stream.status !== 'open') throw new Error('closed at once')
      this.open.add(stream)
      stream.addEventListener('close', () => {
        this.open.delete(stream)
        this.ended++
        this.lastEndedAt = performance.now()
      })
      return stream
    } catch {
      this.refused++
      this.lastEndedAt = performance.now()
      return null
    }
  }

  /** Writes a frame's first bytes (or all of them) on a stream, if it is still open. */
  send(stream: Stream, bytes: Uint8Array): void {
    if (stream.status !== 'open') return
    this.framesStarted++
    this.bytesQueued += bytes.byteLength
    stream.send(bytes)
  }

  /** Whether no stream of this attack is open now. */
  settled(): boolean {
    return this.open.size === 0
  }

  report(): AttackReport {
    return {
      hosts: this.hosts,
      streamsTried: this.tried,
      streamsRefusedAtOpen: this.refused,
      framesStarted: this.framesStarted,
      bytesQueued: this.bytesQueued,
      streamsDroppedByNode: this.refused + this.ended,
      streamsStillOpen: this.open.size,
      allDropped: this.tried > 0 && this.settled(),
      attackerDroppedAfterMs:
        this.tried > 0 && this.settled() && this.lastEndedAt !== null
          ? Math.round(this.lastEndedAt - this.startedAt)
          : null,
    }
  }
}

/**
 * An attacker host, dialled to the target. It serves the chunk protocol, as a neighbour must
 * (the device tells each new neighbour what it holds during a download), and calls `onMessage`
 * with what the device sends on those streams.
 */
async function attackerHost(
  target: Target,
  onMessage: (stream: Stream, msg: ChunkMessage) => void,
): Promise<Host> {
  // No listen address: the device's peer exchange has nothing to pass on, so no other node
  // dials the attackers and only the device is attacked.
  const host = await createHost({ keys: generateKeyPair(), listen: [], bootstrap: [], mdns: false })
  const serve = async (stream: Stream) => {
    const framed = new FramedStream(stream, CHUNK_MESSAGE_BYTES_MAX)
    try {
      for (let frame = await framed.read(600_000); frame !== null; frame = await framed.read(600_000)) {
        const msg = decodeChunkMessage(frame)
        if (msg.ok) onMessage(stream, msg.value)
      }
    } catch {
      // The device reset the stream.
    }
  }
  await host.handle(chunkProtocolId(target.chainId), (stream) => void serve(stream), {
    maxInboundStreams: 64,
    maxOutboundStreams: 1024,
  })
  await host.dial(multiaddr(target.address))
  return host
}

/** A running attack: `stop()` ends its new activity and leaves what it opened as it is. */
export interface Attack {
  readonly tally: Tally
  readonly hosts: Host[]
  stop(): void
}

/**
 * Opens `streams` chunk streams one after another (libp2p keeps CHUNK_INBOUND_STREAMS_MAX open
 * at once), and on each writes the length of a 4 MiB frame and a few bytes of it, then nothing.
 * One after another, because a burst is refused whole: libp2p counts a connection's streams
 * once their protocol is agreed, and when a dozen are agreed together each sees more than the
 * limit, the first four included.
 */
export async function stalledFrames(target: Target, streams: number): Promise<Attack> {
  const host = await attackerHost(target, () => {})
  const tally = new Tally(1)
  const opening = concat(lengthPrefix(4 * 1024 * 1024), new Uint8Array(16))
  for (let i = 0; i < streams; i++) {
    const stream = await tally.openStream(host, target)
    if (stream) tally.send(stream, opening)
  }
  return { tally, hosts: [host], stop: () => {} }
}

/**
 * `rounds` times, as many streams as allowed, each carrying a whole 256 KiB chunk message of the
 * image being downloaded that nobody asked for; the next round opens once the last one ended.
 */
export async function unsolicitedChunks(target: Target, rounds: number): Promise<Attack> {
  const host = await attackerHost(target, () => {})
  const tally = new Tally(1)
  const data = Prng.fromSeed('unsolicited').bytes(target.chunkBytes)
  let stopped = false
  const run = async () => {
    for (let round = 0; round < rounds && !stopped; round++) {
      await Promise.all(
        Array.from({ length: CHUNK_INBOUND_STREAMS_MAX }, async (_, i) => {
          const stream = await tally.openStream(host, target)
          if (!stream) return
          tally.send(stream, frameOf(encodeChunkDataParts(target.manifest, i, data)).subarray())
          await ended(stream, 10_000)
        }),
      )
    }
  }
  const done = run()
  return {
    tally,
    hosts: [host],
    stop: () => {
      stopped = true
      void done
    },
  }
}

/** As many streams as allowed, each announcing a frame one byte over CHUNK_MESSAGE_BYTES_MAX. */
export async function oversizedFrames(target: Target): Promise<Attack> {
  const host = await attackerHost(target, () => {})
  const tally = new Tally(1)
  await Promise.all(
    Array.from({ length: CHUNK_INBOUND_STREAMS_MAX }, async () => {
      const stream = await tally.openStream(host, target)
      if (stream) tally.send(stream, lengthPrefix(CHUNK_MESSAGE_BYTES_MAX + 1))
    }),
  )
  return { tally, hosts: [host], stop: () => {} }
}

/** As many streams as allowed, each 64 KiB of random bytes: lengths and bodies that mean nothing. */
export async function garbage(target: Target): Promise<Attack> {
  const host = await attackerHost(target, () => {})
  const tally = new Tally(1)
  const noise = Prng.fromSeed('garbage')
  await Promise.all(
    Array.from({ length: CHUNK_INBOUND_STREAMS_MAX }, async () => {
      const stream = await tally.openStream(host, target)
      if (stream) tally.send(stream, noise.bytes(64 * 1024))
    }),
  )
  return { tally, hosts: [host], stop: () => {} }
}

/**
 * A Sybil attack on the credit for large frames: `sybils` hosts, each with its own key, claim to
 * hold every chunk, so the device asks each for chunks and so credits it with large frames. For
 * each request an attacker opens a stream of its own (up to CHUNK_INBOUND_STREAMS_MAX) and spends
 * the credit on a frame announcing `frameBytes`, sends all of it but 64 bytes, and stalls.
 */
export async function creditStalls(target: Target, sybils: number, frameBytes: number): Promise<Attack> {
  const tally = new Tally(sybils)
  const body = new Uint8Array(Math.max(0, frameBytes - 64))
  const opening = concat(lengthPrefix(frameBytes), body)
  let stopped = false
  const hosts = await Promise.all(
    Array.from({ length: sybils }, async () => {
      let streams = 0
      let host: Host | undefined
      const onMessage: Parameters<typeof attackerHost>[1] = (stream, msg) => {
        if (stopped) return
        if (msg.type === 'have') {
          const bitfield = fullBitfield(target.chunkCount)
          if (stream.status === 'open')
            stream.send(frameOf([encodeChunkMessage({ type: 'have', manifest: target.manifest, bitfield })]))
        } else if (msg.type === 'request' && host && streams < CHUNK_INBOUND_STREAMS_MAX) {
          streams++
          const from = host
          void tally.openStream(from, target).then((s) => {
            if (s) tally.send(s, opening)
          })
        }
      }
      host = await attackerHost(target, onMessage)
      return host
    }),
  )
  return {
    tally,
    hosts,
    stop: () => {
      stopped = true
    },
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a)
  out.set(b, a.byteLength)
  return out
}

/** Resolves when a stream ends, or after `ms`. */
function ended(stream: Stream, ms: number): Promise<void> {
  if (stream.status !== 'open') return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    stream.addEventListener('close', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}
