import {
  API_TOKEN_LENGTH_MAX,
  API_TOKEN_LENGTH_MIN,
  CONFIG_ALLOWED_HOSTS_MAX,
  CONFIG_BOOTSTRAP_MAX,
  CONFIG_INSTALL_COMMAND_WORDS_MAX,
  CONFIG_INSTALL_ENV_MAX,
  CONFIG_INSTALL_TIMEOUT_MS_MAX,
  CONFIG_INSTALL_TIMEOUT_MS_MIN,
  CONFIG_LISTEN_ADDRESSES_MAX,
  CONFIG_RATE_BYTES_PER_SEC_MAX,
  CONFIG_RATE_BYTES_PER_SEC_MIN,
  INSTALL_HOOK_TIMEOUT_MS,
  MAX_CHAIN_AGE_MAX_MS,
  MAX_CHAIN_AGE_MIN_MS,
  NAME_LENGTH_MAX,
  NETWORK_MAX_CONNECTIONS_DEFAULT,
  NETWORK_MAX_CONNECTIONS_LIMIT,
  NETWORK_TARGET_CONNECTIONS_DEFAULT,
} from '../constants.js'

/**
 * Every field of the node's configuration with its environment variable, default, range and
 * meaning (docs/configuration.md is this table for operators), and the units durations and
 * rates are written in. config.ts reads a file against it.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export const DEFAULT_API_PORT = 7070

/** One field of the configuration, as docs/configuration.md documents it. */
export interface ConfigField {
  /** The key, dotted by section: "network.max_connections". */
  readonly key: string
  /** The environment variable that overrides the file, if any. */
  readonly env?: string
  readonly kind:
    | 'path'
    | 'name'
    | 'choice'
    | 'boolean'
    | 'list'
    | 'count'
    | 'duration'
    | 'rate'
    | 'address'
    | 'version'
    | 'table'
  /** The default, as an operator would write it ("required" when there is none). */
  readonly default: string
  /** The values it takes, as one phrase: the same words an out-of-range error uses. */
  readonly range: string
  readonly meaning: string
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** 604800000 → "7d", 1000 → "1s": the largest unit that divides it. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of Object.entries(DURATION_UNITS).reverse()) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}

/** 8192 → "8 KiB/s": the largest binary unit that divides it. */
export function formatRate(bytesPerSec: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytesPerSec >= size && bytesPerSec % size === 0) return `${bytesPerSec / size} ${unit}/s`
  }
  return `${bytesPerSec} B/s`
}

const RATE_RANGE = `0 (unlimited) or a rate from ${formatRate(CONFIG_RATE_BYTES_PER_SEC_MIN)} to ${formatRate(CONFIG_RATE_BYTES_PER_SEC_MAX)}, like "4 MiB/s"`
const INSTALL_TIMEOUT_RANGE = `a duration from ${formatDuration(CONFIG_INSTALL_TIMEOUT_MS_MIN)} to ${formatDuration(CONFIG_INSTALL_TIMEOUT_MS_MAX)}, like "15m", "90s" or "2h"`
const NAME_RANGE = `a string of 1 to ${NAME_LENGTH_MAX} characters`
const listRange = (min: number, max: number, what: string) => `a list of ${min} to ${max} ${what}`

/**
 * Every field of the configuration: the reference table of docs/configuration.md, and what
 * test/node/config.test.ts walks to try each field in and out of its range.
 */
export const CONFIG_FIELDS: readonly ConfigField[] = [
  {
    key: 'data_dir',
    env: 'FWMESH_DATA_DIR',
    kind: 'path',
    default: 'required',
    range: 'a directory path, relative to the config file',
    meaning: 'where the node keeps its key, ledger, images and agent state',
  },
  {
    key: 'genesis',
    env: 'FWMESH_GENESIS',
    kind: 'path',
    default: '<data_dir>/genesis.json',
    range: 'a file path, relative to the config file',
    meaning: "the chain's genesis file: the trust anchor",
  },
  {
    key: 'key',
    kind: 'path',
    default: '<data_dir>/node.key',
    range: 'a file path, relative to data_dir',
    meaning: "the node's ed25519 key file (created at first start); also its libp2p identity",
  },
  {
    key: 'role',
    env: 'FWMESH_ROLE',
    kind: 'choice',
    default: 'follower',
    range: '"validator" or "follower"',
    meaning: 'a validator takes part in consensus (its key must be in genesis); a follower verifies',
  },
  {
    key: 'network.listen',
    env: 'FWMESH_LISTEN',
    kind: 'list',
    default: '["/ip4/0.0.0.0/tcp/4001"]',
    range: listRange(1, CONFIG_LISTEN_ADDRESSES_MAX, 'multiaddrs'),
    meaning: 'libp2p listen addresses (a comma-separated list in the environment)',
  },
  {
    key: 'network.bootstrap',
    env: 'FWMESH_BOOTSTRAP',
    kind: 'list',
    default: '[]',
    range: listRange(0, CONFIG_BOOTSTRAP_MAX, 'multiaddrs, each ending in /p2p/ and a peer id'),
    meaning: 'peers dialled at start and redialled with backoff while below target_connections',
  },
  {
    key: 'network.mdns',
    env: 'FWMESH_MDNS',
    kind: 'boolean',
    default: 'true',
    range: 'true or false',
    meaning: 'find and dial nodes on the LAN by mDNS',
  },
  {
    key: 'network.target_connections',
    env: 'FWMESH_TARGET_CONNECTIONS',
    kind: 'count',
    default: `${NETWORK_TARGET_CONNECTIONS_DEFAULT} (or max_connections when lower)`,
    range: 'a whole number from 1 to network.max_connections',
    meaning: 'known peers are dialled while the node has fewer connections than this',
  },
  {
    key: 'network.max_connections',
    env: 'FWMESH_MAX_CONNECTIONS',
    kind: 'count',
    default: String(NETWORK_MAX_CONNECTIONS_DEFAULT),
    range: `a whole number from 1 to ${NETWORK_MAX_CONNECTIONS_LIMIT}`,
    meaning: "libp2p's connection limit: inbound refused at it, newest pruned above it",
  },
  {
    key: 'api.listen',
    env: 'FWMESH_API_LISTEN',
    kind: 'address',
    default: `127.0.0.1:${DEFAULT_API_PORT}`,
    range:
      'host:port with a port from 0 to 65535 (0: any free port); beyond loopback only with api.token_file',
    meaning: 'where the local HTTP API (the CLI, /metrics) listens',
  },
  {
    key: 'api.allowed_hosts',
    env: 'FWMESH_API_ALLOWED_HOSTS',
    kind: 'list',
    default: '[]',
    range: listRange(0, CONFIG_ALLOWED_HOSTS_MAX, 'host names or addresses; "*" allows any'),
    meaning:
      "names a client may put in its Host header besides the bound address and localhost (a reverse proxy, the gateway's DNS name)",
  },
  {
    key: 'api.token_file',
    env: 'FWMESH_API_TOKEN_FILE',
    kind: 'path',
    default: 'none',
    range: `a file path, relative to the config file, holding a token of ${API_TOKEN_LENGTH_MIN} to ${API_TOKEN_LENGTH_MAX} characters`,
    meaning:
      'a bearer token every API request must carry; required when api.listen is beyond loopback (the CLI reads FWMESH_API_TOKEN or FWMESH_API_TOKEN_FILE)',
  },
  {
    key: 'bandwidth.upload',
    env: 'FWMESH_UPLOAD',
    kind: 'rate',
    default: '0',
    range: RATE_RANGE,
    meaning: 'the most this node sends of chunks per second (KiB, MiB, GiB are binary; kb, mb, gb decimal)',
  },
  {
    key: 'bandwidth.download',
    env: 'FWMESH_DOWNLOAD',
    kind: 'rate',
    default: '0',
    range: RATE_RANGE,
    meaning: 'the most this node receives of chunks per second',
  },
  {
    key: 'device.product',
    kind: 'name',
    default: 'required in [device]',
    range: NAME_RANGE,
    meaning: 'the product this device runs; releases for other products are not installed',
  },
  {
    key: 'device.hardware',
    kind: 'name',
    default: 'required in [device]',
    range: NAME_RANGE,
    meaning: "the device's hardware model; a release must list it",
  },
  {
    key: 'device.channel',
    kind: 'name',
    default: 'stable',
    range: NAME_RANGE,
    meaning: 'the release channel this device follows',
  },
  {
    key: 'device.install_command',
    kind: 'list',
    default: 'required in [device]',
    range: listRange(1, CONFIG_INSTALL_COMMAND_WORDS_MAX, 'words, the program first'),
    meaning: 'the install hook, run with the image path and the version (examples/hooks/)',
  },
  {
    key: 'device.install_timeout',
    kind: 'duration',
    default: formatDuration(INSTALL_HOOK_TIMEOUT_MS),
    range: INSTALL_TIMEOUT_RANGE,
    meaning: 'the install hook is stopped (SIGTERM, then SIGKILL) and the install failed after this',
  },
  {
    key: 'device.install_env',
    kind: 'table',
    default: '{}',
    range: `a table of 0 to ${CONFIG_INSTALL_ENV_MAX} strings`,
    meaning: 'extra environment variables for the install hook',
  },
  {
    key: 'device.maintenance_window',
    kind: 'table',
    default: 'none (always open)',
    range: '{ start = "HH:MM", end = "HH:MM" or "24:00", days = weekdays, utc_offset_minutes = -720 to 840 }',
    meaning: 'the hours (and weekdays) in which the install hook may run',
  },
  {
    key: 'device.version_file',
    kind: 'path',
    default: 'none',
    range: 'a file path, relative to the config file',
    meaning: 'a file with the version the device runs, read at start (the OS or the hook keeps it)',
  },
  {
    key: 'device.initial_version',
    kind: 'version',
    default: '0.0.0',
    range: 'a semantic version, like 1.4.2',
    meaning: 'the running version while there is no version file',
  },
  {
    key: 'ledger.max_chain_age',
    env: 'FWMESH_MAX_CHAIN_AGE',
    kind: 'duration',
    default: 'three heartbeat intervals of the genesis (90s on a default chain)',
    range: `a duration from ${formatDuration(MAX_CHAIN_AGE_MIN_MS)} to ${formatDuration(MAX_CHAIN_AGE_MAX_MS)}, longer than the heartbeat interval, like "90s" or "10m"`,
    meaning:
      'a chain whose newest block is older than this is stale: no new download or install starts, status exits 7',
  },
  {
    key: 'log.level',
    env: 'FWMESH_LOG_LEVEL',
    kind: 'choice',
    default: 'info',
    range: LOG_LEVELS.map((l) => `"${l}"`).join(', '),
    meaning: 'the least severe log lines printed (JSON lines on stderr)',
  },
]

export const FIELD = new Map(CONFIG_FIELDS.map((f) => [f.key, f]))

/** The range of a field, as its errors and docs/configuration.md state it. */
export function rangeOf(key: string): string {
  const field = FIELD.get(key)
  if (!field) throw new Error(`no config field ${key}`)
  return field.range
}

/** Environment variables that override the file, by name. */
export const ENV_OVERRIDES: Readonly<Record<string, string>> = Object.fromEntries(
  CONFIG_FIELDS.filter((f) => f.env !== undefined).map((f) => [f.env!, f.key]),
)

/** "15m", "30s", "500ms", "7d" or a whole number of milliseconds; undefined when malformed. */
export function parseDurationMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  const m = typeof value === 'string' ? /^\s*(\d{1,15})\s*(ms|s|m|h|d)\s*$/.exec(value) : null
  if (!m) return undefined
  const ms = Number(m[1]) * DURATION_UNITS[m[2]!]!
  return Number.isSafeInteger(ms) ? ms : undefined
}

/** "4 MiB/s", "500kb/s", "1048576" or a number → bytes per second; undefined when malformed. */
export function parseRateBytes(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  if (typeof value !== 'string') return undefined
  const m = /^\s*(\d{1,15}(?:\.\d{1,6})?)\s*([a-z]*)\s*(?:\/s)?\s*$/i.exec(value)
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined
  if (!m || unit === undefined) return undefined
  const bytes = Math.round(Number(m[1]) * unit)
  return Number.isSafeInteger(bytes) ? bytes : undefined
}
