import { decode, type Msg } from '../../src/consensus/messages.js'
import { decodeSafetyRecord, encodeSafetyRecord } from '../../src/consensus/safety.js'
import { Gossip } from '../../src/node/gossip.js'
import { gossipTopics, type Host } from '../../src/node/host.js'
import { makeLogger } from '../../src/node/log.js'
import {
  chain,
  consensusMessages,
  encodeMsg,
  gossipMessages,
  safetyRecords,
  syncResponses,
} from './corpus.js'
import { decodeResultVerdict, fuzz, type Verdict } from './harness.js'

// Validator messages (votes, proposals, view changes), sync responses and gossip, as peers send them.

fuzz({
  name: 'votes and view changes',
  corpus: consensusMessages.map(encodeMsg),
  run: (input) => decode(input),
  verdict: (r) => decodeResultVerdict(r),
})

fuzz({
  name: 'sync responses',
  corpus: syncResponses.map(encodeMsg),
  run: (input) => decode(input),
  verdict: (r) => decodeResultVerdict(r),
})

/**
 * The gossip entry point as gossipsub drives it: a fake pubsub hands each input to the node's
 * topic validator (if it registers one) and then to its message listener, on both topics. A
 * message is accepted when it reaches a handler; otherwise the codec's verdict on it must be a
 * typed rejection, or a valid message of the wrong type for the topic.
 */
function gossipHarness() {
  const topics = gossipTopics(chain.genesis.chainId)
  const listeners: Array<(event: CustomEvent) => void> = []
  const validators = new Map<string, (peer: unknown, msg: unknown) => unknown>()
  const delivered: Msg['type'][] = []
  const pubsub = {
    addEventListener: (_type: string, listener: (event: CustomEvent) => void) => listeners.push(listener),
    removeEventListener: () => {},
    subscribe: () => {},
    unsubscribe: () => {},
    publish: async () => ({ recipients: [] }),
    getSubscribers: () => [],
    getMeshPeers: () => [],
    getTopics: () => [],
    topicValidators: validators,
  }
  const host = { services: { pubsub } } as unknown as Host
  const gossip = new Gossip(
    host,
    chain.genesis.chainId,
    {
      onTx: () => delivered.push('tx'),
      onBlock: () => delivered.push('block'),
    },
    makeLogger('silent'),
  )
  gossip.start()
  const from = { toString: () => '12D3KooWFuzzPeer' }
  return {
    async deliver(topic: string, data: Uint8Array): Promise<Msg['type'][]> {
      delivered.length = 0
      const msg = { type: 'unsigned', topic, data }
      const validator = validators.get(topic)
      const verdict = validator ? await validator(from, msg) : 'accept'
      if (verdict === 'accept')
        for (const listener of listeners)
          listener(
            new CustomEvent('gossipsub:message', { detail: { propagationSource: from, msg, msgId: '' } }),
          )
      return [...delivered]
    },
    topics,
  }
}

const gossip = gossipHarness()

fuzz({
  name: 'gossip envelopes',
  corpus: [...gossipMessages.tx, ...gossipMessages.block].map(encodeMsg),
  run: async (input) => {
    const byTopic: Array<[string, Msg['type'], Msg['type'][]]> = []
    for (const [topic, type] of [
      [gossip.topics.tx, 'tx'],
      [gossip.topics.block, 'block'],
    ] as const)
      byTopic.push([topic, type, await gossip.deliver(topic, input)])
    return { byTopic, decoded: decode(input) }
  },
  verdict: ({ byTopic, decoded }): Verdict => {
    const codec = decodeResultVerdict(decoded)
    if ('wrong' in codec) return codec
    let delivered = 0
    for (const [topic, type, got] of byTopic) {
      if (got.length > 1) return { wrong: `one message reached the handlers ${got.length} times on ${topic}` }
      if (got.length === 1 && got[0] !== type)
        return { wrong: `a ${got[0]} reached the handlers from ${topic}` }
      if (got.length === 1 && !decoded.ok)
        return { wrong: `an undecodable message reached a handler from ${topic}` }
      delivered += got.length
    }
    if (delivered > 0) return { accepted: true }
    if ('accepted' in codec) {
      const type = decoded.ok ? decoded.value.type : ''
      if (type === 'tx' || type === 'block') return { wrong: `a valid ${type} message reached no handler` }
      return { rejected: `wrong-topic (${type})` }
    }
    return codec
  },
})

// A validator's record of what it signed, read from its disk at start.
fuzz({
  name: 'safety records',
  corpus: safetyRecords.map(encodeSafetyRecord),
  run: (input) => decodeSafetyRecord(input),
  verdict: (r) => decodeResultVerdict(r),
})
