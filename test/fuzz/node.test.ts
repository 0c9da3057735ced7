import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import fc from 'fast-check'
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml'
import { decodeProgress, encodeProgress, type ProgressErrorCode } from '../../src/agent/progress.js'
import { decodeAgentState, encodeAgentState, initialAgentState } from '../../src/agent/state.js'
import { utf8 } from '../../src/codec/bytes.js'
import { cidToString } from '../../src/codec/cid.js'
import { keyPairFromSeed } from '../../src/crypto/ed25519.js'
import { decodeTxRequest, parseJsonBody } from '../../src/node/api-body.js'
import { parseConfig } from '../../src/node/config.js'
import {
  decodePeerRequest,
  decodePeerResponse,
  encodePeerRequest,
  encodePeerResponse,
} from '../../src/node/peer-exchange.js'
import { mcid, txs } from './corpus.js'
import { decodeResultVerdict, fuzz, mutatedEncoding, mutatedTree, type Verdict } from './harness.js'

// What the node decodes from its operator and its local clients: the config file and the
// bodies of API requests.

const CONFIGS = [
  'data_dir = "/var/lib/fwmesh"\n',
  `data_dir = "/var/lib/fwmesh"
genesis = "/etc/fwmesh/genesis.json"
role = "validator"
key = "node.key"

[network]
listen = ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/tcp/4002"]
bootstrap = ["/ip4/192.0.2.7/tcp/4001/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"]
mdns = false
target_connections = 8
max_connections = 64

[api]
listen = "127.0.0.1:7070"

[bandwidth]
upload = "4 MiB/s"
download = "0"

[log]
level = "debug"
`,
  `data_dir = "data"

[device]
product = "gateway"
hardware = "rev-b"
channel = "stable"
install_command = ["/usr/lib/fwmesh/hooks/rauc.sh", "--slot", "b"]
install_timeout = "15m"
maintenance_window = { start = "02:00", end = "04:30", days = ["sat", "sun"], utc_offset_minutes = 60 }
version_file = "/var/lib/fwmesh/installed/version"
initial_version = "0.0.0"
install_env = { FWMESH_SLOT = "b" }
`,
]
const configCorpus = CONFIGS.map(utf8)
const tomlLeaf = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.constantFrom(
    '15m',
    '600h',
    '0',
    '-1',
    '4 MiB/s',
    '1e400',
    '127.0.0.1:0',
    '0.0.0.0:7070',
    '/ip4/1.2.3.4/tcp/1',
  ),
  fc.integer(),
  fc.constantFrom(0, -1, 2 ** 31, 2 ** 53 - 1, Number.MAX_SAFE_INTEGER),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
)
const configWords = [
  ...new Set(CONFIGS.flatMap((text) => [...text.matchAll(/([a-z_]+) =/g)].map((m) => m[1]!))),
  'network',
  'api',
  'bandwidth',
  'device',
  'log',
]
const textDecoder = new TextDecoder()

fuzz({
  name: 'config',
  corpus: configCorpus,
  run: (input) => parseConfig(textDecoder.decode(input), 'fuzz.toml', {}, '/etc/fwmesh'),
  verdict: (r): Verdict => {
    if (r.ok) return { accepted: true }
    if (r.error.code !== 'config') return { wrong: `a config error with code ${String(r.error.code)}` }
    if (typeof r.error.message !== 'string' || r.error.message.length === 0)
      return { wrong: 'a config error without a message' }
    return { rejected: 'config' }
  },
  generators: [
    ['text', 0.2, fc.string({ unit: 'binary', maxLength: 256 }).map(utf8)],
    ['mutated', 0.4, mutatedEncoding(configCorpus)],
    [
      'values',
      0.4,
      mutatedTree(
        CONFIGS.map((text) => parseToml(text)),
        (value) => utf8(stringifyToml(value as Record<string, unknown>)),
        tomlLeaf,
        configWords,
      ),
    ],
  ],
})

const API_BODIES = [
  { tx: Buffer.from(txs[0]!.bytes).toString('base64') },
  { tx: Buffer.from(txs[5]!.bytes).toString('base64') },
  { path: '/srv/images/gw-1.2.0.img', manifest: cidToString(mcid) },
  {},
]
const apiCorpus = API_BODIES.map((body) => utf8(JSON.stringify(body)))
const jsonLeaf = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.base64String({ maxLength: 64 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
)
const API_CODES = ['too-large', 'too-deep', 'malformed']

fuzz({
  name: 'API bodies',
  corpus: apiCorpus,
  run: (input) => {
    const body = parseJsonBody(input)
    return body.ok && 'tx' in body.value ? decodeTxRequest(body.value) : body
  },
  // The corpus includes bodies of other routes: a body is accepted when it parses, and a
  // transaction request (a body with a `tx` field) when its envelope decodes.
  verdict: (r): Verdict => {
    if (r.ok) return { accepted: true }
    const e = r.error
    if (e.status !== 400 || !API_CODES.includes(e.code))
      return { wrong: `an API error ${e.status} ${e.code}` }
    if (typeof e.message !== 'string' || e.message.length === 0)
      return { wrong: 'an API error without a message' }
    return { rejected: e.code }
  },
  generators: [
    ['bytes', 0.2, fc.uint8Array({ maxLength: 512 })],
    ['mutated', 0.4, mutatedEncoding(apiCorpus)],
    [
      'values',
      0.4,
      mutatedTree(API_BODIES, (value) => utf8(JSON.stringify(value)), jsonLeaf, ['tx', 'path', 'manifest']),
    ],
  ],
})

// Peer exchange, from neighbours: a request and an answer, each tried as both.
const peer = peerIdFromString('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA')
fuzz({
  name: 'peer exchange',
  corpus: [
    encodePeerRequest({ max: 16 }),
    encodePeerResponse([]),
    encodePeerResponse([
      { id: peer, addrs: [multiaddr('/ip4/10.0.0.7/tcp/4001'), multiaddr('/ip6/::1/tcp/4001')] },
    ]),
  ],
  run: (input) => [decodePeerRequest(input), decodePeerResponse(input)] as const,
  verdict: ([request, response]): Verdict => {
    const a = decodeResultVerdict(request)
    const b = decodeResultVerdict(response)
    if ('wrong' in a) return a
    if ('wrong' in b) return b
    return 'accepted' in a ? a : b
  },
})

// A device agent's state, from its disk at start.
fuzz({
  name: 'agent state',
  corpus: [encodeAgentState(initialAgentState('1.0.0')), encodeAgentState(initialAgentState('2.4.1-rc.1'))],
  run: (input) => decodeAgentState(input),
  verdict: (r): Verdict => {
    if (r.ok) return { accepted: true }
    if (!['too-large', 'corrupt', 'unknown-version'].includes(r.error.code))
      return { wrong: `an agent state error with code ${String(r.error.code)}` }
    if (typeof r.error.message !== 'string' || r.error.message.length === 0)
      return { wrong: 'an agent state error without a message' }
    return { rejected: r.error.code }
  },
})

// Device progress, as gossiped by any device (src/agent/progress.ts): a signed, bounded message.
const progressDevice = keyPairFromSeed(new Uint8Array(32).fill(7))
const progressCorpus = [
  encodeProgress(
    {
      chain: 'fuzz',
      release: mcid,
      device: progressDevice.publicKey,
      state: 'downloading',
      time: 1_700_000_000_000,
      percent: 42,
    },
    progressDevice.secretKey,
  ),
  encodeProgress(
    {
      chain: 'fuzz',
      release: mcid,
      device: progressDevice.publicKey,
      state: 'failed',
      time: 1_700_000_000_001,
      reason: 'flash write failed',
    },
    progressDevice.secretKey,
  ),
]
const PROGRESS_CODES: readonly ProgressErrorCode[] = [
  'too-large',
  'malformed',
  'wrong-chain',
  'bad-signature',
]

fuzz({
  name: 'device progress',
  corpus: progressCorpus,
  run: (input) => decodeProgress(input, 'fuzz'),
  verdict: (r): Verdict => {
    if (r.ok) return { accepted: true }
    if (!PROGRESS_CODES.includes(r.error.code)) return { wrong: `a progress error with code ${r.error.code}` }
    if (typeof r.error.message !== 'string' || r.error.message.length === 0)
      return { wrong: 'a progress error without a message' }
    return { rejected: r.error.code }
  },
})
