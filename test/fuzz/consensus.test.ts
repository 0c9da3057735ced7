import { TopicValidatorResult } from '@libp2p/gossipsub'
import { DEFAULT_CODEC_LIMITS, decode, type Msg } from '../../src/consensus/messages.js'
import { decodeSafetyRecord, encodeSafetyRecord } from '../../src/consensus/safety.js'
import { GOSSIP_BLOCK_MESSAGE_BYTES_MAX, GOSSIP_TX_MESSAGE_BYTES_MAX } from '../../src/constants.js'
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
 * The gossip entry point as gossipsub drives it: the node's topic validator, on both topics,
 * with handlers that accept whatever reaches them. A message is accepted when the validator
 * says Accept, which must be exactly when a handler took it; anything else must be a Reject
 * with a typed rejection from the codec (with the topic's size limit), or a valid message of
 * the wrong type for its topic.
 */
function gossipHarness() {
  const topics = gossipTopics(chain.genesis.chainId)
  const validators = new Map<string, (peer: unknown, msg: unknown) => unknown>()
  const delivered: Msg['type'][] = []
  const pubsub = {
    addEventListener: () => {},
    removeEventListener: () => {},
    subscribe: () => {},
    unsubscribe: () => {},
    publish: async () => ({ recipients: [] }),
    getSubscribers: () => [],
    getMeshPeers: () => [],
    topicValidators: validators,
  }
  const host = { services: { pubsub } } as unknown as Host
  const gossip = new Gossip(
    host,
    chain.genesis.chainId,
    {
      onTx: () => {
        delivered.push('tx')
        return 'accept'
      },
      onBlock: () => {
        delivered.push('block')
        return 'accept'
      },
    },
    makeLogger('silent'),
  )
  gossip.start()
  const from = { toString: () => '12D3KooWFuzzPeer' }
  return {
    async deliver(topic: string, data: Uint8Array): Promise<{ result: unknown; delivered: Msg['type'][] }> {
      delivered.length = 0
      const validator = validators.get(topic)
      if (!validator) throw new Error(`no topic validator for ${topic}`)
      const result = await validator(from, { type: 'unsigned', topic, data })
      return { result, delivered: [...delivered] }
    },
    topics,
  }
}

const gossip = gossipHarness()
const GOSSIP_TOPICS = [
  { topic: gossip.topics.tx, type: 'tx', limit: GOSSIP_TX_MESSAGE_BYTES_MAX },
  { topic: gossip.topics.block, type: 'block', limit: GOSSIP_BLOCK_MESSAGE_BYTES_MAX },
] as const

fuzz({
  name: 'gossip envelopes',
  corpus: [...gossipMessages.tx, ...gossipMessages.block].map(encodeMsg),
  run: async (input) => {
    const byTopic = []
    for (const t of GOSSIP_TOPICS) {
      const { result, delivered } = await gossip.deliver(t.topic, input)
      byTopic.push({
        ...t,
        result,
        delivered,
        decoded: decode(input, { ...DEFAULT_CODEC_LIMITS, messageBytesMax: t.limit }),
      })
    }
    return byTopic
  },
  verdict: (byTopic): Verdict => {
    let accepted = false
    let rejected: Verdict | undefined
    for (const { topic, type, result, delivered, decoded } of byTopic) {
      const codec = decodeResultVerdict(decoded)
      if ('wrong' in codec) return codec
      const fits = decoded.ok && decoded.value.type === type
      if (result === TopicValidatorResult.Accept) {
        if (!fits || delivered.length !== 1 || delivered[0] !== type)
          return { wrong: `${topic} accepted a message its handler did not take as a ${type}` }
        accepted = true
      } else if (result === TopicValidatorResult.Reject) {
        if (delivered.length > 0) return { wrong: `${topic} rejected a message a handler took` }
        if (fits) return { wrong: `${topic} rejected a valid ${type} message` }
        rejected ??=
          'rejected' in codec ? codec : { rejected: `wrong-topic (${decoded.ok ? decoded.value.type : ''})` }
      } else return { wrong: `${topic} answered ${String(result)}` }
    }
    return accepted ? { accepted: true } : rejected!
  },
})

// A validator's record of what it signed, read from its disk at start.
fuzz({
  name: 'safety records',
  corpus: safetyRecords.map(encodeSafetyRecord),
  run: (input) => decodeSafetyRecord(input),
  verdict: (r) => decodeResultVerdict(r),
})
