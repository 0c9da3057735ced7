import { decode, encode } from '../consensus/index.js'
import type { Block } from '../ledger/block.js'
import type { Certificate } from '../ledger/certificate.js'
import type { SignedTx } from '../ledger/tx.js'
import { gossipTopics, type Host } from './host.js'
import type { Logger } from './log.js'

/**
 * Gossip of transactions and committed blocks (gossipsub topics `fwmesh/<chain>/tx` and
 * `fwmesh/<chain>/block`). Best effort only: a node also pulls blocks over the sync protocol,
 * and validators relay transactions among themselves. Every message is decoded with the
 * consensus codec's limits; anything else is dropped with a log line.
 */
export interface GossipHandlers {
  onTx(from: string, tx: SignedTx): void
  onBlock(from: string, block: Block, cert: Certificate): void
}

export class Gossip {
  private readonly topics: { tx: string; block: string }
  private readonly listener = (
    event: CustomEvent<{
      propagationSource: { toString(): string }
      msg: { topic: string; data: Uint8Array }
    }>,
  ) => this.onMessage(event.detail.propagationSource.toString(), event.detail.msg)

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
    // `gossipsub:message` names the neighbour that forwarded the message: messages are unsigned
    // (host.ts says why), and that neighbour holds the block, so it is the one to sync from.
    pubsub.addEventListener('gossipsub:message', this.listener as never)
    pubsub.subscribe(this.topics.tx)
    pubsub.subscribe(this.topics.block)
  }

  private onMessage(from: string, message: { topic: string; data: Uint8Array }): void {
    if (message.topic !== this.topics.tx && message.topic !== this.topics.block) return
    const decoded = decode(message.data)
    if (!decoded.ok) {
      this.log.debug(
        { from, topic: message.topic, err: decoded.error.message },
        'dropped an undecodable gossip message',
      )
      return
    }
    const msg = decoded.value
    this.log.trace({ from, topic: message.topic, type: msg.type }, 'gossip received')
    if (message.topic === this.topics.tx && msg.type === 'tx') this.handlers.onTx(from, msg.tx)
    else if (message.topic === this.topics.block && msg.type === 'block')
      this.handlers.onBlock(from, msg.block, msg.cert)
    else
      this.log.debug(
        { from, topic: message.topic, type: msg.type },
        'dropped a gossip message of the wrong type',
      )
  }

  async publishTx(tx: SignedTx): Promise<void> {
    await this.publish(this.topics.tx, encode({ type: 'tx', tx }))
  }

  async announceBlock(block: Block, cert: Certificate): Promise<void> {
    await this.publish(this.topics.block, encode({ type: 'block', block, cert }))
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
  stats(): { tx: { subscribers: number; mesh: number }; block: { subscribers: number; mesh: number } } {
    const pubsub = this.host.services.pubsub as unknown as {
      getSubscribers(t: string): unknown[]
      getMeshPeers(t: string): unknown[]
    }
    const of = (topic: string) => ({
      subscribers: pubsub.getSubscribers(topic).length,
      mesh: pubsub.getMeshPeers(topic).length,
    })
    return { tx: of(this.topics.tx), block: of(this.topics.block) }
  }

  stop(): void {
    this.host.services.pubsub.removeEventListener('gossipsub:message', this.listener as never)
  }
}
