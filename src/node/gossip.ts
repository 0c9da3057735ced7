import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { DEFAULT_CODEC_LIMITS, decode, encode } from '../consensus/index.js'
import {
  GOSSIP_BLOCK_MESSAGE_BYTES_MAX,
  GOSSIP_GRAYLIST_THRESHOLD,
  GOSSIP_TX_MESSAGE_BYTES_MAX,
  TX_GOSSIP_ATTEMPTS_MAX,
  TX_GOSSIP_RETRY_MS,
} from '../constants.js'
import type { Block } from '../ledger/block.js'
import type { Certificate } from '../ledger/certificate.js'
import type { SignedTx } from '../ledger/tx.js'
import { gossipTopics, type Host } from './host.js'
import type { GossipVerdict } from './ledger-driver.js'
import type { Logger } from './log.js'

/**
 * Gossip of transactions and committed blocks (gossipsub topics `fwmesh/<chain>/tx` and
 * `fwmesh/<chain>/block`), and of devices' signed progress on releases
 * (`fwmesh/<chain>/progress`, progress-gossip.ts, judged by its own codec). Best effort only: a node also pulls blocks over the sync protocol,
 * and validators relay transactions among themselves.
 *
 * Every message is validated before gossipsub delivers or forwards it: a topic validator
 * checks its size, decodes it with the consensus codec's limits and hands it to the ledger
 * (LedgerDriver.gossipBlock / gossipTx), which checks the certificate or signature and takes
 * it in the same step, so nothing is decoded or verified twice. The verdict is gossipsub's:
 * Accept forwards the message to the mesh, Ignore drops it, Reject drops it and counts against
 * the sender's score (host.ts, docs/hardening.md), which graylists a peer that keeps sending
 * forgeries. Nothing unchecked is forwarded.
 */
export interface GossipHandlers {
  onTx(from: string, tx: SignedTx): GossipVerdict
  onBlock(from: string, block: Block, cert: Certificate): GossipVerdict
  /**
   * A device's progress message (`fwmesh/<chain>/progress`), undecoded: its own codec checks
   * size, shape, signature, registration and time (progress-gossip.ts).
   */
  onProgress?(from: string, data: Uint8Array): GossipVerdict
}

type Topic = 'tx' | 'block' | 'progress'

/** Messages per topic and verdict since the node started (status, metrics, tests). */
export interface GossipCounts {
  accepted: number
  ignored: number
  rejected: number
}

const RESULT: Record<GossipVerdict, TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject,
}

export class Gossip {
  private readonly topics: Record<Topic, string>
  readonly counts: Record<Topic, GossipCounts> = {
    tx: { accepted: 0, ignored: 0, rejected: 0 },
    block: { accepted: 0, ignored: 0, rejected: 0 },
    progress: { accepted: 0, ignored: 0, rejected: 0 },
  }

  constructor(
    private readonly host: Host,
    chainId: string,
    private readonly handlers: GossipHandlers,
    private readonly log: Logger,
  ) {
    this.topics = gossipTopics(chainId)
  }

  start(): void {
    const pubsub = this.host.services.pubsub
    // The peer a validator is called with is the neighbour that forwarded the message:
    // messages are unsigned (host.ts says why), and that neighbour holds the block, so it is
    // the one to sync from, and the one whose score a forgery lowers.
    pubsub.topicValidators.set(this.topics.tx, (peer, message) => this.validate('tx', peer, message.data))
    pubsub.topicValidators.set(this.topics.block, (peer, message) =>
      this.validate('block', peer, message.data),
    )
    pubsub.topicValidators.set(this.topics.progress, (peer, message) =>
      this.validate('progress', peer, message.data),
    )
    pubsub.subscribe(this.topics.tx)
    pubsub.subscribe(this.topics.block)
    pubsub.subscribe(this.topics.progress)
  }

  private validate(kind: Topic, peer: PeerId, data: Uint8Array): TopicValidatorResult {
    const verdict = this.judge(kind, peer.toString(), data)
    const counts = this.counts[kind]
    if (verdict === 'accept') counts.accepted++
    else if (verdict === 'ignore') counts.ignored++
    else counts.rejected++
    return RESULT[verdict]
  }

  private judge(kind: Topic, from: string, data: Uint8Array): GossipVerdict {
    if (kind === 'progress') {
      // A node without a progress table neither keeps nor forwards progress.
      if (!this.handlers.onProgress) return 'ignore'
      try {
        return this.handlers.onProgress(from, data)
      } catch (cause) {
        this.log.error({ from, kind, err: (cause as Error).message }, 'handling a gossip message failed')
        return 'ignore'
      }
    }
    const limit = kind === 'tx' ? GOSSIP_TX_MESSAGE_BYTES_MAX : GOSSIP_BLOCK_MESSAGE_BYTES_MAX
    if (data.byteLength > limit) {
      this.log.debug({ from, kind, bytes: data.byteLength }, 'refused an oversized gossip message')
      return 'reject'
    }
    const decoded = decode(data, { ...DEFAULT_CODEC_LIMITS, messageBytesMax: limit })
    if (!decoded.ok) {
      this.log.debug({ from, kind, err: decoded.error.message }, 'refused an undecodable gossip message')
      return 'reject'
    }
    const msg = decoded.value
    this.log.trace({ from, kind, type: msg.type }, 'gossip received')
    try {
      if (kind === 'tx' && msg.type === 'tx') return this.handlers.onTx(from, msg.tx)
      if (kind === 'block' && msg.type === 'block') return this.handlers.onBlock(from, msg.block, msg.cert)
    } catch (cause) {
      // A bug of ours, not the sender's fault: drop the message, keep the node.
      this.log.error({ from, kind, err: (cause as Error).message }, 'handling a gossip message failed')
      return 'ignore'
    }
    this.log.debug({ from, kind, type: msg.type }, 'refused a gossip message of the wrong type')
    return 'reject'
  }

  /**
   * Gossips a transaction; true once a neighbour has it (sent now, or by an earlier publish).
   * Published to nobody, a message would still enter gossipsub's seen cache, and its id is
   * the hash of its bytes: every later publish of the same transaction would be dropped as a
   * duplicate, and a follower's transaction submitted before it had neighbours was lost. So a
   * transaction is published only to at least one neighbour, and the caller tries again.
   */
  async publishTx(tx: SignedTx): Promise<boolean> {
    try {
      // Gossipsub's publish takes options its service interface does not name.
      const pubsub = this.host.services.pubsub as unknown as {
        publish(
          topic: string,
          data: Uint8Array,
          options: { allowPublishToZeroTopicPeers: boolean },
        ): Promise<{ recipients: unknown[] }>
      }
      const result = await pubsub.publish(this.topics.tx, encode({ type: 'tx', tx }), {
        allowPublishToZeroTopicPeers: false,
      })
      return result.recipients.length > 0
    } catch (cause) {
      const message = (cause as Error).message
      this.log.debug({ topic: this.topics.tx, err: message }, 'transaction not gossiped yet')
      return message.includes('Duplicate')
    }
  }

  /**
   * Gossips a transaction until a neighbour has it: at once when the node has neighbours on
   * the topic, else again every TX_GOSSIP_RETRY_MS, at most TX_GOSSIP_ATTEMPTS_MAX times (a
   * node just started has none yet), until `done()` says it no longer matters (committed, the
   * node stopping). The first attempt is awaited; the rest run on.
   */
  async publishTxUntilSent(tx: SignedTx, done: () => boolean): Promise<void> {
    if (await this.publishTx(tx)) return
    void (async () => {
      for (let attempt = 1; attempt < TX_GOSSIP_ATTEMPTS_MAX; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, TX_GOSSIP_RETRY_MS).unref())
        if (done()) return
        if (await this.publishTx(tx)) return
      }
      this.log.warn({ tx: tx.idString }, 'no neighbour took the transaction; submit it again once connected')
    })()
  }

  async announceBlock(block: Block, cert: Certificate): Promise<void> {
    await this.publish(this.topics.block, encode({ type: 'block', block, cert }))
  }

  /** A device's own progress message (encoded and signed by progress-gossip.ts). */
  async publishProgress(data: Uint8Array): Promise<void> {
    await this.publish(this.topics.progress, data)
  }

  private async publish(topic: string, data: Uint8Array): Promise<void> {
    try {
      const result = await this.host.services.pubsub.publish(topic, data)
      this.log.trace({ topic, recipients: result.recipients.length }, 'gossip published')
    } catch (cause) {
      // No subscriber yet, or a duplicate: gossip is best effort, sync covers the gap.
      this.log.debug({ topic, err: (cause as Error).message }, 'gossip publish failed')
    }
  }

  /** Subscribers and mesh peers per topic, for status and metrics. */
  stats(): {
    tx: { subscribers: number; mesh: number }
    block: { subscribers: number; mesh: number }
    progress: { subscribers: number; mesh: number }
    graylisted: string[]
  } {
    const pubsub = this.host.services.pubsub as unknown as {
      getSubscribers(t: string): unknown[]
      getMeshPeers(t: string): unknown[]
    }
    const of = (topic: string) => ({
      subscribers: pubsub.getSubscribers(topic).length,
      mesh: pubsub.getMeshPeers(topic).length,
    })
    // Neighbours whose score is under the graylist threshold: gossipsub ignores what they send
    // (an operator sees who was flooding; the attack harness checks it). Bounded by the
    // connection limit.
    const graylisted = this.host
      .getPeers()
      .filter((peer) => this.score(peer) < GOSSIP_GRAYLIST_THRESHOLD)
      .map((peer) => peer.toString())
    return {
      tx: of(this.topics.tx),
      block: of(this.topics.block),
      progress: of(this.topics.progress),
      graylisted,
    }
  }

  /** The gossipsub score of a neighbour (0 for one that did nothing wrong). */
  score(peer: PeerId): number {
    // The router has it; gossipsub's service interface does not name it.
    const pubsub = this.host.services.pubsub as unknown as { getScore(peer: string): number }
    return pubsub.getScore(peer.toString())
  }

  stop(): void {
    this.host.services.pubsub.topicValidators.delete(this.topics.tx)
    this.host.services.pubsub.topicValidators.delete(this.topics.block)
    this.host.services.pubsub.topicValidators.delete(this.topics.progress)
  }
}
