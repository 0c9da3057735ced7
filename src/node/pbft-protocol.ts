import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { toHex } from '../codec/bytes.js'
import { DEFAULT_CODEC_LIMITS, decode, encode, type Msg } from '../consensus/index.js'
import {
  CONSENSUS_MESSAGE_BYTES_MAX,
  PBFT_OUTBOX_MAX,
  PBFT_REDIAL_DELAY_MS,
  PBFT_WRITE_TIMEOUT_MS,
} from '../constants.js'
import type { Genesis } from '../ledger/genesis.js'
import type { SignedTx } from '../ledger/tx.js'
import { monotonicClock } from './clock.js'
import { FaultyValidators } from './faulty-validators.js'
import { FramedStream } from './framing.js'
import { type Host, peerPublicKey } from './host.js'
import { InboundBudget } from './inbound-budget.js'
import type { Logger } from './log.js'

/**
 * `/fwmesh/<chain>/pbft/1`: validator-to-validator messages. Each validator keeps one
 * long-lived outbound stream to each other validator (a new stream per message is ~3× slower,
 * FACTS.md) with a bounded queue; inbound streams are read frame by frame. Only genesis
 * validators may talk here: a stream from any other key is closed at once.
 */
export class ValidatorChannels {
  private readonly outbound = new Map<
    number,
    { framed: FramedStream | null; queue: Uint8Array[]; pumping: boolean }
  >()
  private readonly peerOf: readonly PeerId[]
  private readonly indexOfKey: ReadonlyMap<string, number>
  private stopped = false
  /** Messages per second each validator may hand this one (inbound-budget.ts). */
  private readonly budget = new InboundBudget()
  /** Validators provably faulty lately, not read for a while (faulty-validators.ts). */
  readonly faulty = new FaultyValidators()
  /** Transactions the replica holds, reused when decoding (set once the replica exists). */
  knownTx: ((envelope: Uint8Array) => SignedTx | undefined) | undefined

  constructor(
    private readonly host: Host,
    private readonly protocol: string,
    genesis: Genesis,
    private readonly self: number,
    private readonly onMessage: (from: number, msg: Msg) => void,
    private readonly log: Logger,
  ) {
    this.peerOf = genesis.validators.map((v) => peerIdFromPublicKey(publicKeyFromRaw(v.publicKey) as never))
    this.indexOfKey = new Map(genesis.validators.map((v, i) => [toHex(v.publicKey), i]))
  }

  /** The libp2p peer id of validator `index`. */
  peer(index: number): PeerId {
    return this.peerOf[index]!
  }

  /** The validator index of a peer, if it is a validator. */
  indexOf(peer: PeerId): number | undefined {
    const key = peerPublicKey(peer)
    return key ? this.indexOfKey.get(toHex(key)) : undefined
  }

  async start(): Promise<void> {
    await this.host.handle(this.protocol, (stream, connection) => this.readLoop(stream, connection), {
      maxInboundStreams: 8,
    })
  }

  /** Queues a message for one validator; the oldest queued message is dropped past the bound. */
  send(to: number, msg: Msg): void {
    if (to === this.self || this.stopped) return
    let out = this.outbound.get(to)
    if (!out) {
      out = { framed: null, queue: [], pumping: false }
      this.outbound.set(to, out)
    }
    // PBFT tolerates lost messages (timeouts, view changes, sync); an unbounded queue to a dead
    // validator would not be tolerated by the process.
    if (out.queue.length >= PBFT_OUTBOX_MAX) out.queue.shift()
    out.queue.push(encode(msg))
    if (!out.pumping) void this.pump(to, out)
  }

  broadcast(msg: Msg): void {
    for (let i = 0; i < this.peerOf.length; i++) if (i !== this.self) this.send(i, msg)
  }

  private async pump(
    to: number,
    out: { framed: FramedStream | null; queue: Uint8Array[]; pumping: boolean },
  ): Promise<void> {
    out.pumping = true
    try {
      while (out.queue.length > 0 && !this.stopped) {
        if (!out.framed) {
          try {
            const stream = await this.host.dialProtocol(this.peer(to), this.protocol, {
              signal: AbortSignal.timeout(PBFT_WRITE_TIMEOUT_MS),
            })
            out.framed = new FramedStream(stream, CONSENSUS_MESSAGE_BYTES_MAX)
          } catch (cause) {
            // Unreachable now (not connected yet, or down): keep the bounded queue and try again
            // shortly; PBFT's timeouts and sync cover whatever the bound drops meanwhile.
            this.log.debug({ to, err: (cause as Error).message }, 'validator unreachable')
            setTimeout(() => {
              if (!out.pumping && out.queue.length > 0 && !this.stopped) void this.pump(to, out)
            }, PBFT_REDIAL_DELAY_MS).unref()
            return
          }
        }
        const frame = out.queue.shift()!
        try {
          await out.framed.write(frame, PBFT_WRITE_TIMEOUT_MS)
        } catch (cause) {
          this.log.debug({ to, err: (cause as Error).message }, 'validator stream broke')
          out.framed.abort('write failed')
          out.framed = null
        }
      }
    } finally {
      out.pumping = false
    }
  }

  private async readLoop(stream: Stream, connection: Connection): Promise<void> {
    const from = this.indexOf(connection.remotePeer)
    if (from === undefined || from === this.self) {
      this.log.warn(
        { peer: connection.remotePeer.toString() },
        'a non-validator opened the pbft protocol; closing',
      )
      stream.abort(new Error('not a validator'))
      return
    }
    const framed = new FramedStream(stream, CONSENSUS_MESSAGE_BYTES_MAX)
    try {
      for (;;) {
        // Over its budget, or muted for provable faults, a sender waits: nothing is read from
        // its stream meanwhile.
        const muted = this.faulty.mutedForMs(from, monotonicClock.now())
        if (muted > 0) await new Promise((resolve) => setTimeout(resolve, muted))
        const wait = this.budget.delayMs(from, monotonicClock.now())
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
        // Validators exchange at least a status or an empty block per interval; an hour of
        // silence means the stream is dead.
        const frame = await framed.read(3_600_000)
        if (frame === null || this.stopped) return
        const msg = decode(frame, DEFAULT_CODEC_LIMITS, this.knownTx ? { knownTx: this.knownTx } : {})
        if (!msg.ok) {
          this.log.warn({ from, err: msg.error.message }, 'undecodable pbft message; closing the stream')
          framed.abort('undecodable message')
          return
        }
        this.onMessage(from, msg.value)
      }
    } catch (cause) {
      this.log.debug({ from, err: (cause as Error).message }, 'pbft stream ended')
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const out of this.outbound.values()) out.framed?.abort('stopping')
    this.outbound.clear()
  }
}
