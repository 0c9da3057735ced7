import { readFile, stat } from 'node:fs/promises'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { parse as parseToml } from 'smol-toml'
import { parseMaintenanceWindow } from '../agent/window.js'
import { err, ok, type Result } from '../codec/result.js'
import {
  CONFIG_ALLOWED_HOSTS_MAX,
  CONFIG_BOOTSTRAP_MAX,
  CONFIG_DEPTH_MAX,
  CONFIG_FILE_BYTES_MAX,
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
  TIMER_DELAY_MS_MAX,
} from '../constants.js'
import { parseSemVer } from '../ledger/semver.js'
import { isLoopbackHost } from './api.js'
import {
  CONFIG_FIELDS,
  DEFAULT_API_PORT,
  ENV_OVERRIDES,
  FIELD,
  LOG_LEVELS,
  type LogLevel,
  parseDurationMs,
  parseRateBytes,
  rangeOf,
} from './config-fields.js'
import { parseBootstrapList } from './connector.js'

/**
 * The node's configuration: a TOML file, then environment variables over it, then defaults.
 * Every field, its default and its range are in `CONFIG_FIELDS` (config-fields.ts;
 * docs/configuration.md is the same table for operators). A value out of its range or
 * malformed stops start-up with one sentence naming the field and the range, because an
 * operator edits this file by hand.
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
 * [ledger]
 * max_chain_age = "90s"             # newest block older than this: no download or install
 *                                   # starts, `fwmesh status` exits 7; 1s..7d, default three
 *                                   # heartbeat intervals (genesis params.emptyBlockIntervalMs)
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
  readonly ledger: {
    /** How old the newest block may be for the chain to count as live; null: the default. */
    readonly maxChainAgeMs: number | null
  }
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

export { CONFIG_FIELDS, type ConfigField, ENV_OVERRIDES, LOG_LEVELS, type LogLevel } from './config-fields.js'

export interface ConfigError {
  readonly code: 'config'
  readonly message: string
}

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

const SECTIONS = ['network', 'api', 'bandwidth', 'device', 'ledger', 'log'] as const

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

  const ledgerDoc = table(doc.ledger, 'ledger')
  if (!ledgerDoc.ok) return ledgerDoc
  const ledger = new Reader(ledgerDoc.value, 'ledger', fromEnv)
  const ledgerKeys = ledger.known()
  if (!ledgerKeys.ok) return ledgerKeys
  // Unset: three heartbeat intervals of the chain's genesis, which the daemon knows (hardening.md).
  let maxChainAgeMs: number | null = null
  if (ledgerDoc.value.max_chain_age !== undefined) {
    const age = ledger.duration('max_chain_age', 0, MAX_CHAIN_AGE_MIN_MS, MAX_CHAIN_AGE_MAX_MS)
    if (!age.ok) return age
    maxChainAgeMs = age.value
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
    ledger: { maxChainAgeMs },
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
    const size = (await stat(path)).size
    if (size > CONFIG_FILE_BYTES_MAX)
      return fail(`${path} is ${size} bytes, over the limit of ${CONFIG_FILE_BYTES_MAX} for a config file`)
    text = await readFile(path, 'utf8')
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code
    return fail(
      code === 'ENOENT' ? `no config file at ${path}` : `cannot read ${path}: ${(cause as Error).message}`,
    )
  }
  return parseConfig(text, path, env, dirname(resolve(path)))
}

/**
 * Parses the text of a config file, bounded in size (CONFIG_FILE_BYTES_MAX) and in nesting
 * (CONFIG_DEPTH_MAX), then builds the configuration. `source` names the file in messages.
 */
export function parseConfig(
  text: string,
  source: string,
  env: Readonly<Record<string, string | undefined>>,
  baseDir: string,
): Result<NodeConfig, ConfigError> {
  const size = Buffer.byteLength(text, 'utf8')
  if (size > CONFIG_FILE_BYTES_MAX)
    return fail(`${source} is ${size} bytes, over the limit of ${CONFIG_FILE_BYTES_MAX} for a config file`)
  let doc: Record<string, unknown>
  try {
    doc = parseToml(text, { maxDepth: CONFIG_DEPTH_MAX }) as Record<string, unknown>
  } catch (cause) {
    return fail(`${source} is not valid TOML: ${(cause as Error).message.split('\n')[0]}`)
  }
  return buildConfig(doc, env, baseDir)
}
