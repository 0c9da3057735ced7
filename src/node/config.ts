import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { parse as parseToml } from 'smol-toml'
import { parseMaintenanceWindow } from '../agent/window.js'
import { err, ok, type Result } from '../codec/result.js'
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
  NAME_LENGTH_MAX,
  NETWORK_MAX_CONNECTIONS_DEFAULT,
  NETWORK_MAX_CONNECTIONS_LIMIT,
  NETWORK_TARGET_CONNECTIONS_DEFAULT,
  TIMER_DELAY_MS_MAX,
} from '../constants.js'
import { parseSemVer } from '../ledger/semver.js'
import { isLoopbackHost } from './api.js'
import { parseBootstrapList } from './connector.js'

/**
 * The node's configuration: a TOML file, then environment variables over it, then defaults.
 * Every field, its default and its range are in `CONFIG_FIELDS` below (docs/configuration.md
 * is the same table for operators). A value out of its range or malformed stops start-up with
 * one sentence naming the field and the range, because an operator edits this file by hand.
 *
 * ```toml
 * data_dir = "/var/lib/fwmesh"
 * genesis = "/etc/fwmesh/genesis.json"
 * role = "follower"                 # or "validator"
 *
 * [network]
 * listen = ["/ip4/0.0.0.0/tcp/4001"]
 * bootstrap = ["/ip4/192.0.2.7/tcp/4001/p2p/12D3Koo..."]
 * mdns = true                       # find and dial nodes on the LAN
 * target_connections = 32           # dial known peers while below this; 1..max_connections
 * max_connections = 128             # libp2p's limit; 1..10000
 *
 * [api]
 * listen = "127.0.0.1:7070"
 * allowed_hosts = []                # Host names besides the bound address and localhost
 * token_file = "/etc/fwmesh/api-token"  # required when listen is beyond loopback
 *
 * [bandwidth]
 * upload = "4 MiB/s"                # gateways share their uplink; 0 = unlimited
 * download = "0"
 *
 * [device]                          # only on nodes that install firmware
 * product = "gateway"
 * hardware = "rev-b"
 * channel = "stable"
 * install_command = ["/usr/lib/fwmesh/hooks/rauc.sh"]
 * install_timeout = "15m"           # 1s..7d
 * maintenance_window = { start = "02:00", end = "04:30", days = ["sat", "sun"], utc_offset_minutes = 60 }
 * version_file = "/var/lib/fwmesh/installed/version"   # the running version, kept by the OS or hook
 * initial_version = "0.0.0"          # when there is no version file yet
 *
 * [log]
 * level = "info"
 * ```
 */
export interface NodeConfig {
  readonly dataDir: string
  readonly genesisPath: string
  readonly keyPath: string
  readonly role: 'validator' | 'follower'
  readonly network: {
    readonly listen: readonly string[]
    readonly bootstrap: readonly string[]
    readonly mdns: boolean
    /** Known peers are dialled while the node has fewer connections than this. */
    readonly targetConnections: number
    /** libp2p's maxConnections; at least `targetConnections`. */
    readonly maxConnections: number
  }
  readonly api: {
    readonly host: string
    readonly port: number
    /** Host names a client may name in its Host header besides the bound address and localhost. */
    readonly allowedHosts: readonly string[]
    /** A file holding the bearer token every API client must send; null for none (loopback only). */
    readonly tokenFile: string | null
  }
  /** Bytes per second; 0 means unlimited. */
  readonly bandwidth: { readonly uploadBytesPerSec: number; readonly downloadBytesPerSec: number }
  readonly device: DeviceConfig | null
  readonly log: { readonly level: LogLevel }
}

export interface DeviceConfig {
  readonly product: string
  readonly hardware: string
  readonly channel: string
  readonly installCommand: readonly string[]
  readonly installTimeoutMs: number
  /** Checked here with the agent's parser (agent/window.ts), kept raw for it. */
  readonly maintenanceWindow: Readonly<Record<string, unknown>> | null
  /**
   * A file holding the version the device runs (one line of semver), read at every start:
   * the OS or the install hook keeps it current (examples/hooks/script.sh writes one).
   */
  readonly versionFile: string | null
  /** The running version when there is no version file (a device fresh from the factory). */
  readonly initialVersion: string
  /** Extra environment variables for the install hook (e.g. FWMESH_INSTALL_DIR). */
  readonly installEnv: Readonly<Record<string, string>>
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export interface ConfigError {
  readonly code: 'config'
  readonly message: string
}

const DEFAULT_API_PORT = 7070

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
    key: 'log.level',
    env: 'FWMESH_LOG_LEVEL',
    kind: 'choice',
    default: 'info',
    range: LOG_LEVELS.map((l) => `"${l}"`).join(', '),
    meaning: 'the least severe log lines printed (JSON lines on stderr)',
  },
]

const FIELD = new Map(CONFIG_FIELDS.map((f) => [f.key, f]))

function rangeOf(key: string): string {
  const field = FIELD.get(key)
  if (!field) throw new Error(`no config field ${key}`)
  return field.range
}

/** Environment variables that override the file, by name. */
export const ENV_OVERRIDES: Readonly<Record<string, string>> = Object.fromEntries(
  CONFIG_FIELDS.filter((f) => f.env !== undefined).map((f) => [f.env!, f.key]),
)

function fail(message: string): { ok: false; error: ConfigError } {
  return err({ code: 'config', message })
}

function shown(value: unknown): string {
  const text = typeof value === 'string' ? `"${value}"` : (JSON.stringify(value) ?? String(value))
  return text.length > 64 ? `${text.slice(0, 61)}...` : text
}

/**
 * Reads fields of one section, saying in every fault which key (and which environment
 * variable, when the value came from one) is wrong, and what its range is.
 */
class Reader {
  constructor(
    private readonly doc: Record<string, unknown>,
    private readonly section: string,
    private readonly fromEnv: ReadonlySet<string>,
  ) {}

  key(name: string): string {
    return this.section ? `${this.section}.${name}` : name
  }

  get(name: string): unknown {
    return this.doc[name]
  }

  /** "network.max_connections (from FWMESH_MAX_CONNECTIONS)" */
  private named(name: string): string {
    const key = this.key(name)
    return this.fromEnv.has(key) ? `${key} (from ${FIELD.get(key)?.env})` : key
  }

  /** A value that is not one of the field's values: names the field, its range and the value. */
  wrong(name: string, value: unknown, range = rangeOf(this.key(name))): { ok: false; error: ConfigError } {
    return fail(`${this.named(name)} must be ${range}; got ${shown(value)}`)
  }

  count(
    name: string,
    fallback: number,
    min: number,
    max: number,
    range?: string,
  ): Result<number, ConfigError> {
    const value = this.doc[name] ?? fallback
    const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max)
      return this.wrong(name, value, range)
    return ok(n)
  }

  duration(name: string, fallback: number, min: number, max: number): Result<number, ConfigError> {
    const value = this.doc[name] ?? fallback
    const ms = parseDurationMs(value)
    if (ms === undefined || ms < min || ms > max) return this.wrong(name, value)
    return ok(ms)
  }

  rate(name: string): Result<number, ConfigError> {
    const value = this.doc[name] ?? 0
    const bytes = parseRateBytes(value)
    if (
      bytes === undefined ||
      (bytes !== 0 && (bytes < CONFIG_RATE_BYTES_PER_SEC_MIN || bytes > CONFIG_RATE_BYTES_PER_SEC_MAX))
    )
      return this.wrong(name, value)
    return ok(bytes)
  }

  list(name: string, fallback: readonly string[], min: number, max: number): Result<string[], ConfigError> {
    const value = this.doc[name] ?? fallback
    const list =
      typeof value === 'string'
        ? value
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s.length > 0)
        : value
    if (
      !Array.isArray(list) ||
      !list.every((v) => typeof v === 'string' && v.length > 0) ||
      list.length < min ||
      list.length > max
    )
      return this.wrong(name, value)
    return ok(list as string[])
  }

  name(name: string, fallback?: string): Result<string, ConfigError> {
    const value = this.doc[name] ?? fallback
    if (value === undefined) return fail(`${this.named(name)} is required: ${rangeOf(this.key(name))}`)
    if (typeof value !== 'string' || value.length < 1 || value.length > NAME_LENGTH_MAX)
      return this.wrong(name, value)
    return ok(value)
  }

  path(name: string): Result<string | null, ConfigError> {
    const value = this.doc[name]
    if (value === undefined) return ok(null)
    if (typeof value !== 'string' || value === '' || value.includes('\0')) return this.wrong(name, value)
    return ok(value)
  }

  choice<T extends string>(name: string, fallback: T, choices: readonly T[]): Result<T, ConfigError> {
    const value = this.doc[name] ?? fallback
    if (!choices.includes(value as T)) return this.wrong(name, value)
    return ok(value as T)
  }

  boolean(name: string, fallback: boolean): Result<boolean, ConfigError> {
    const value = this.doc[name] ?? fallback
    if (value === true || value === 'true' || value === '1') return ok(true)
    if (value === false || value === 'false' || value === '0') return ok(false)
    return this.wrong(name, value)
  }

  /** Refuses keys the section does not have, naming the known ones. */
  known(): Result<void, ConfigError> {
    const allowed = CONFIG_FIELDS.filter((f) =>
      this.section ? f.key.startsWith(`${this.section}.`) : !f.key.includes('.'),
    ).map((f) => (this.section ? f.key.slice(this.section.length + 1) : f.key))
    if (!this.section) allowed.push(...SECTIONS)
    for (const key of Object.keys(this.doc)) {
      if (!allowed.includes(key))
        return fail(
          `unknown key "${key}"${this.section ? ` in [${this.section}]` : ''}; known keys: ${allowed.join(', ')}`,
        )
    }
    return ok(undefined)
  }
}

const SECTIONS = ['network', 'api', 'bandwidth', 'device', 'log'] as const

/** "15m", "30s", "500ms", "7d" or a whole number of milliseconds; undefined when malformed. */
function parseDurationMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  const m = typeof value === 'string' ? /^\s*(\d{1,15})\s*(ms|s|m|h|d)\s*$/.exec(value) : null
  if (!m) return undefined
  const ms = Number(m[1]) * DURATION_UNITS[m[2]!]!
  return Number.isSafeInteger(ms) ? ms : undefined
}

/** "4 MiB/s", "500kb/s", "1048576" or a number → bytes per second; undefined when malformed. */
function parseRateBytes(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  if (typeof value !== 'string') return undefined
  const m = /^\s*(\d{1,15}(?:\.\d{1,6})?)\s*([a-z]*)\s*(?:\/s)?\s*$/i.exec(value)
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined
  if (!m || unit === undefined) return undefined
  const bytes = Math.round(Number(m[1]) * unit)
  return Number.isSafeInteger(bytes) ? bytes : undefined
}

/** A duration from text or milliseconds, in [0, TIMER_DELAY_MS_MAX]: what a timer can wait. */
export function parseDuration(value: unknown, key: string): Result<number, ConfigError> {
  const ms = parseDurationMs(value)
  if (ms === undefined || ms > TIMER_DELAY_MS_MAX)
    return fail(
      `${key} must be a duration like "15m", "30s" or "500ms", at most ${TIMER_DELAY_MS_MAX} ms (24.8 days)`,
    )
  return ok(ms)
}

/** A rate from text ("4 MiB/s") or bytes per second; 0 means unlimited. */
export function parseRate(value: unknown, key: string): Result<number, ConfigError> {
  const bytes = parseRateBytes(value)
  if (bytes === undefined) return fail(`${key} must be a rate like "4 MiB/s" or a number of bytes per second`)
  return ok(bytes)
}

function table(value: unknown, key: string): Result<Record<string, unknown>, ConfigError> {
  if (value === undefined) return ok({})
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail(`[${key}] must be a table`)
  return ok(value as Record<string, unknown>)
}

/**
 * Builds the configuration from a parsed TOML document and the environment. Relative paths
 * are resolved against `baseDir` (the config file's folder) or the data directory.
 */
export function buildConfig(
  fileDoc: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
  baseDir: string,
): Result<NodeConfig, ConfigError> {
  const doc: Record<string, unknown> = structuredClone(fileDoc)
  const fromEnv = new Set<string>()
  for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name]
    if (value === undefined || value === '') continue
    const [section, key] = path.includes('.') ? path.split('.') : [undefined, path]
    if (section && (typeof doc[section] !== 'object' || doc[section] === null)) doc[section] = {}
    const target = section ? (doc[section] as Record<string, unknown>) : doc
    target[key!] = value
    fromEnv.add(path)
  }
  const top = new Reader(doc, '', fromEnv)
  const topKeys = top.known()
  if (!topKeys.ok) return topKeys
  const dataDirText = top.path('data_dir')
  if (!dataDirText.ok) return dataDirText
  if (dataDirText.value === null) return fail(`data_dir is required: ${rangeOf('data_dir')}`)
  const dataDir = resolve(baseDir, dataDirText.value)
  const genesis = top.path('genesis')
  if (!genesis.ok) return genesis
  const genesisPath = genesis.value !== null ? resolve(baseDir, genesis.value) : join(dataDir, 'genesis.json')
  const key = top.path('key')
  if (!key.ok) return key
  const keyPath =
    key.value !== null
      ? isAbsolute(key.value)
        ? key.value
        : resolve(dataDir, key.value)
      : join(dataDir, 'node.key')
  const role = top.choice('role', 'follower', ['validator', 'follower'] as const)
  if (!role.ok) return role

  const networkDoc = table(doc.network, 'network')
  if (!networkDoc.ok) return networkDoc
  const network = new Reader(networkDoc.value, 'network', fromEnv)
  const networkKeys = network.known()
  if (!networkKeys.ok) return networkKeys
  const listen = network.list('listen', ['/ip4/0.0.0.0/tcp/4001'], 1, CONFIG_LISTEN_ADDRESSES_MAX)
  if (!listen.ok) return listen
  for (const address of listen.value) {
    try {
      multiaddr(address)
    } catch (cause) {
      return network.wrong('listen', address, `${rangeOf('network.listen')} (${(cause as Error).message})`)
    }
  }
  const bootstrap = network.list('bootstrap', [], 0, CONFIG_BOOTSTRAP_MAX)
  if (!bootstrap.ok) return bootstrap
  const bootstrapParsed = parseBootstrapList(bootstrap.value)
  if (!bootstrapParsed.ok)
    return network.wrong(
      'bootstrap',
      bootstrap.value,
      `${rangeOf('network.bootstrap')} (${bootstrapParsed.error})`,
    )
  const mdns = network.boolean('mdns', true)
  if (!mdns.ok) return mdns
  const maxConnections = network.count(
    'max_connections',
    NETWORK_MAX_CONNECTIONS_DEFAULT,
    1,
    NETWORK_MAX_CONNECTIONS_LIMIT,
  )
  if (!maxConnections.ok) return maxConnections
  // A max below the default target lowers the target with it, unless a target is given.
  const targetConnections = network.count(
    'target_connections',
    Math.min(NETWORK_TARGET_CONNECTIONS_DEFAULT, maxConnections.value),
    1,
    maxConnections.value,
    `${rangeOf('network.target_connections')} (${maxConnections.value})`,
  )
  if (!targetConnections.ok) return targetConnections

  const apiDoc = table(doc.api, 'api')
  if (!apiDoc.ok) return apiDoc
  const api = new Reader(apiDoc.value, 'api', fromEnv)
  const apiKeys = api.known()
  if (!apiKeys.ok) return apiKeys
  const apiListen = api.get('listen') ?? `127.0.0.1:${DEFAULT_API_PORT}`
  const apiMatch =
    typeof apiListen === 'string' ? /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(apiListen) : null
  const apiPort = apiMatch ? Number(apiMatch[2]) : Number.NaN
  if (!apiMatch || apiPort > 65535) return api.wrong('listen', apiListen)
  const apiHost = apiMatch[1]!.replace(/^\[|\]$/g, '')
  const allowedHosts = api.list('allowed_hosts', [], 0, CONFIG_ALLOWED_HOSTS_MAX)
  if (!allowedHosts.ok) return allowedHosts
  const tokenFile = api.path('token_file')
  if (!tokenFile.ok) return tokenFile
  if (tokenFile.value === null && !isLoopbackHost(apiHost))
    return fail(
      `api.listen "${apiListen}" is beyond loopback: set api.token_file (a bearer token every client must send) or listen on 127.0.0.1`,
    )

  const bandwidthDoc = table(doc.bandwidth, 'bandwidth')
  if (!bandwidthDoc.ok) return bandwidthDoc
  const bandwidth = new Reader(bandwidthDoc.value, 'bandwidth', fromEnv)
  const bandwidthKeys = bandwidth.known()
  if (!bandwidthKeys.ok) return bandwidthKeys
  const upload = bandwidth.rate('upload')
  if (!upload.ok) return upload
  const download = bandwidth.rate('download')
  if (!download.ok) return download

  let device: DeviceConfig | null = null
  if (doc.device !== undefined) {
    const built = buildDevice(doc.device, baseDir, fromEnv)
    if (!built.ok) return built
    device = built.value
  }

  const logDoc = table(doc.log, 'log')
  if (!logDoc.ok) return logDoc
  const log = new Reader(logDoc.value, 'log', fromEnv)
  const logKeys = log.known()
  if (!logKeys.ok) return logKeys
  const level = log.choice('level', 'info', LOG_LEVELS)
  if (!level.ok) return level

  return ok({
    dataDir,
    genesisPath,
    keyPath,
    role: role.value,
    network: {
      listen: listen.value,
      bootstrap: bootstrap.value,
      mdns: mdns.value,
      targetConnections: targetConnections.value,
      maxConnections: maxConnections.value,
    },
    api: {
      host: apiHost,
      port: apiPort,
      allowedHosts: allowedHosts.value,
      tokenFile: tokenFile.value === null ? null : resolve(baseDir, tokenFile.value),
    },
    bandwidth: { uploadBytesPerSec: upload.value, downloadBytesPerSec: download.value },
    device,
    log: { level: level.value },
  })
}

function buildDevice(
  value: unknown,
  baseDir: string,
  fromEnv: ReadonlySet<string>,
): Result<DeviceConfig, ConfigError> {
  const d = table(value, 'device')
  if (!d.ok) return d
  const device = new Reader(d.value, 'device', fromEnv)
  const deviceKeys = device.known()
  if (!deviceKeys.ok) return deviceKeys
  const product = device.name('product')
  if (!product.ok) return product
  const hardware = device.name('hardware')
  if (!hardware.ok) return hardware
  const channel = device.name('channel', 'stable')
  if (!channel.ok) return channel
  if (d.value.install_command === undefined)
    return fail(
      `device.install_command is required: the command that installs an image (see examples/hooks), ${rangeOf('device.install_command')}`,
    )
  const command = device.list('install_command', [], 1, CONFIG_INSTALL_COMMAND_WORDS_MAX)
  if (!command.ok) return command
  const timeout = device.duration(
    'install_timeout',
    INSTALL_HOOK_TIMEOUT_MS,
    CONFIG_INSTALL_TIMEOUT_MS_MIN,
    CONFIG_INSTALL_TIMEOUT_MS_MAX,
  )
  if (!timeout.ok) return timeout
  const window = d.value.maintenance_window
  if (window !== undefined) {
    const parsed = parseMaintenanceWindow(window, 'device.maintenance_window')
    if (!parsed.ok) return fail(`${parsed.error.message} (${rangeOf('device.maintenance_window')})`)
  }
  const env = d.value.install_env ?? {}
  if (
    typeof env !== 'object' ||
    env === null ||
    Array.isArray(env) ||
    !Object.values(env).every((v) => typeof v === 'string') ||
    Object.keys(env).length > CONFIG_INSTALL_ENV_MAX
  ) {
    return device.wrong(
      'install_env',
      env,
      `${rangeOf('device.install_env')}, like { FWMESH_INSTALL_DIR = "/data/fw" }`,
    )
  }
  const versionFile = device.path('version_file')
  if (!versionFile.ok) return versionFile
  const initialVersion = d.value.initial_version ?? '0.0.0'
  if (typeof initialVersion !== 'string' || !parseSemVer(initialVersion))
    return device.wrong('initial_version', initialVersion)
  const [program, ...args] = command.value
  return ok({
    product: product.value,
    hardware: hardware.value,
    channel: channel.value,
    // A relative hook path is relative to the config file, like every other path here.
    installCommand: [program!.includes('/') ? resolve(baseDir, program!) : program!, ...args],
    installTimeoutMs: timeout.value,
    maintenanceWindow: (window as Record<string, unknown> | undefined) ?? null,
    versionFile: versionFile.value === null ? null : resolve(baseDir, versionFile.value),
    initialVersion,
    installEnv: env as Record<string, string>,
  })
}

/** Reads and parses a config file, then applies the environment. */
export async function loadConfig(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Result<NodeConfig, ConfigError>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code
    return fail(
      code === 'ENOENT' ? `no config file at ${path}` : `cannot read ${path}: ${(cause as Error).message}`,
    )
  }
  let doc: Record<string, unknown>
  try {
    doc = parseToml(text) as Record<string, unknown>
  } catch (cause) {
    return fail(`${path} is not valid TOML: ${(cause as Error).message.split('\n')[0]}`)
  }
  return buildConfig(doc, env, dirname(resolve(path)))
}
