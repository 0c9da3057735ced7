import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { err, ok, type Result } from '../codec/result.js'
import {
  MAX_CHAIN_AGE_MAX_MS,
  MAX_CHAIN_AGE_MIN_MS,
  NETWORK_MAX_CONNECTIONS_DEFAULT,
  NETWORK_MAX_CONNECTIONS_LIMIT,
  NETWORK_TARGET_CONNECTIONS_DEFAULT,
} from '../constants.js'

/**
 * The node's configuration: a TOML file, then environment variables over it, then defaults.
 * Every fault is one sentence naming the key, because an operator edits this file by hand.
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
 * target_connections = 32           # dial known peers (bootstrap, mDNS, peer exchange, lost
 *                                   # ones, with backoff) while below this; 1..max_connections
 * max_connections = 128             # libp2p's limit: refuses inbound at it, prunes above it;
 *                                   # 1..10000; raise it on a bootstrap node a fleet dials first
 *
 * [api]
 * listen = "127.0.0.1:7070"
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
 * install_timeout = "15m"
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
  readonly api: { readonly host: string; readonly port: number }
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
  /** Validated by the agent's own parser; kept raw here. */
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
const DEFAULT_INSTALL_TIMEOUT_MS = 15 * 60_000

function fail(message: string): { ok: false; error: ConfigError } {
  return err({ code: 'config', message })
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

/** "4 MiB/s", "500kb/s", "1048576" or a number → bytes per second. */
export function parseRate(value: unknown, key: string): Result<number, ConfigError> {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return ok(value)
  if (typeof value !== 'string')
    return fail(`${key} must be a rate like "4 MiB/s" or a number of bytes per second`)
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*(?:\/s)?\s*$/i.exec(value)
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined
  if (!m || unit === undefined) return fail(`${key}: "${value}" is not a rate like "4 MiB/s"`)
  return ok(Math.round(Number(m[1]) * unit))
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** "15m", "30s", "500ms" or a number of milliseconds. */
export function parseDuration(value: unknown, key: string): Result<number, ConfigError> {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return ok(value)
  const m = typeof value === 'string' ? /^\s*(\d+)\s*(ms|s|m|h)\s*$/.exec(value) : null
  if (!m) return fail(`${key} must be a duration like "15m", "30s" or "500ms"`)
  return ok(Number(m[1]) * DURATION_UNITS[m[2]!]!)
}

/** A whole number in [min, max], from TOML or from an environment variable's text. */
function integer(
  value: unknown,
  key: string,
  min: number,
  max: number,
  maxIs = '',
): Result<number, ConfigError> {
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max)
    return fail(`${key} must be a whole number from ${min} to ${max}${maxIs}`)
  return ok(n)
}

function stringList(value: unknown, key: string): Result<string[], ConfigError> {
  if (typeof value === 'string')
    return ok(
      value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    )
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    return fail(`${key} must be a list of strings`)
  }
  return ok(value as string[])
}

function table(value: unknown, key: string): Result<Record<string, unknown>, ConfigError> {
  if (value === undefined) return ok({})
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail(`[${key}] must be a table`)
  return ok(value as Record<string, unknown>)
}

function checkKeys(
  doc: Record<string, unknown>,
  allowed: readonly string[],
  where: string,
): Result<void, ConfigError> {
  for (const key of Object.keys(doc)) {
    if (!allowed.includes(key))
      return fail(`unknown key "${key}"${where ? ` in [${where}]` : ''}; known keys: ${allowed.join(', ')}`)
  }
  return ok(undefined)
}

/** Environment variables that override the file, by name. */
export const ENV_OVERRIDES = {
  FWMESH_DATA_DIR: 'data_dir',
  FWMESH_GENESIS: 'genesis',
  FWMESH_ROLE: 'role',
  FWMESH_LISTEN: 'network.listen',
  FWMESH_BOOTSTRAP: 'network.bootstrap',
  FWMESH_MDNS: 'network.mdns',
  FWMESH_TARGET_CONNECTIONS: 'network.target_connections',
  FWMESH_MAX_CONNECTIONS: 'network.max_connections',
  FWMESH_API_LISTEN: 'api.listen',
  FWMESH_UPLOAD: 'bandwidth.upload',
  FWMESH_DOWNLOAD: 'bandwidth.download',
  FWMESH_LOG_LEVEL: 'log.level',
  FWMESH_MAX_CHAIN_AGE: 'ledger.max_chain_age',
} as const

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
  for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name]
    if (value === undefined || value === '') continue
    const [section, key] = path.includes('.') ? path.split('.') : [undefined, path]
    if (section && (typeof doc[section] !== 'object' || doc[section] === null)) doc[section] = {}
    const target = section ? (doc[section] as Record<string, unknown>) : doc
    target[key!] = value
  }
  const top = checkKeys(
    doc,
    ['data_dir', 'genesis', 'key', 'role', 'network', 'api', 'bandwidth', 'device', 'ledger', 'log'],
    '',
  )
  if (!top.ok) return top
  if (typeof doc.data_dir !== 'string' || doc.data_dir === '')
    return fail('data_dir is required (a directory path)')
  const dataDir = resolve(baseDir, doc.data_dir)
  const genesisPath =
    typeof doc.genesis === 'string' ? resolve(baseDir, doc.genesis) : join(dataDir, 'genesis.json')
  const keyPath =
    typeof doc.key === 'string'
      ? isAbsolute(doc.key)
        ? doc.key
        : resolve(dataDir, doc.key)
      : join(dataDir, 'node.key')
  const role = doc.role ?? 'follower'
  if (role !== 'validator' && role !== 'follower')
    return fail(`role must be "validator" or "follower", not "${String(role)}"`)

  const network = table(doc.network, 'network')
  if (!network.ok) return network
  const networkKeys = checkKeys(
    network.value,
    ['listen', 'bootstrap', 'mdns', 'target_connections', 'max_connections'],
    'network',
  )
  if (!networkKeys.ok) return networkKeys
  const listen = stringList(network.value.listen ?? ['/ip4/0.0.0.0/tcp/4001'], 'network.listen')
  if (!listen.ok) return listen
  const bootstrap = stringList(network.value.bootstrap ?? [], 'network.bootstrap')
  if (!bootstrap.ok) return bootstrap
  const mdnsRaw = network.value.mdns ?? true
  const mdns =
    mdnsRaw === true || mdnsRaw === 'true' || mdnsRaw === '1'
      ? true
      : mdnsRaw === false || mdnsRaw === 'false' || mdnsRaw === '0'
        ? false
        : undefined
  if (mdns === undefined) return fail('network.mdns must be true or false')
  const maxConnections = integer(
    network.value.max_connections ?? NETWORK_MAX_CONNECTIONS_DEFAULT,
    'network.max_connections',
    1,
    NETWORK_MAX_CONNECTIONS_LIMIT,
  )
  if (!maxConnections.ok) return maxConnections
  // A max below the default target lowers the target with it, unless a target is given.
  const targetConnections = integer(
    network.value.target_connections ?? Math.min(NETWORK_TARGET_CONNECTIONS_DEFAULT, maxConnections.value),
    'network.target_connections',
    1,
    maxConnections.value,
    ' (network.max_connections)',
  )
  if (!targetConnections.ok) return targetConnections

  const api = table(doc.api, 'api')
  if (!api.ok) return api
  const apiKeys = checkKeys(api.value, ['listen'], 'api')
  if (!apiKeys.ok) return apiKeys
  const apiListen = api.value.listen ?? `127.0.0.1:${DEFAULT_API_PORT}`
  const apiMatch =
    typeof apiListen === 'string' ? /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(apiListen) : null
  const apiPort = apiMatch ? Number(apiMatch[2]) : Number.NaN
  if (!apiMatch || apiPort > 65535) return fail(`api.listen must be host:port, like "127.0.0.1:7070"`)
  const apiHost = apiMatch[1]!.replace(/^\[|\]$/g, '')

  const bandwidth = table(doc.bandwidth, 'bandwidth')
  if (!bandwidth.ok) return bandwidth
  const bandwidthKeys = checkKeys(bandwidth.value, ['upload', 'download'], 'bandwidth')
  if (!bandwidthKeys.ok) return bandwidthKeys
  const upload = parseRate(bandwidth.value.upload ?? 0, 'bandwidth.upload')
  if (!upload.ok) return upload
  const download = parseRate(bandwidth.value.download ?? 0, 'bandwidth.download')
  if (!download.ok) return download

  let device: DeviceConfig | null = null
  if (doc.device !== undefined) {
    const d = table(doc.device, 'device')
    if (!d.ok) return d
    const deviceKeys = checkKeys(
      d.value,
      [
        'product',
        'hardware',
        'channel',
        'install_command',
        'install_timeout',
        'install_env',
        'maintenance_window',
        'version_file',
        'initial_version',
      ],
      'device',
    )
    if (!deviceKeys.ok) return deviceKeys
    for (const key of ['product', 'hardware'] as const) {
      if (typeof d.value[key] !== 'string' || d.value[key] === '') return fail(`device.${key} is required`)
    }
    const command = stringList(d.value.install_command ?? [], 'device.install_command')
    if (!command.ok) return command
    if (command.value.length === 0)
      return fail(
        'device.install_command is required: the command that installs an image (see examples/hooks)',
      )
    const timeout = parseDuration(
      d.value.install_timeout ?? DEFAULT_INSTALL_TIMEOUT_MS,
      'device.install_timeout',
    )
    if (!timeout.ok) return timeout
    const window = d.value.maintenance_window
    if (window !== undefined && (typeof window !== 'object' || window === null || Array.isArray(window))) {
      return fail('device.maintenance_window must be a table like { start = "02:00", end = "04:00" }')
    }
    const env = d.value.install_env ?? {}
    if (
      typeof env !== 'object' ||
      env === null ||
      Array.isArray(env) ||
      !Object.values(env).every((v) => typeof v === 'string')
    ) {
      return fail('device.install_env must be a table of strings, like { FWMESH_INSTALL_DIR = "/data/fw" }')
    }
    const [program, ...args] = command.value
    device = {
      product: d.value.product as string,
      hardware: d.value.hardware as string,
      channel: typeof d.value.channel === 'string' ? d.value.channel : 'stable',
      // A relative hook path is relative to the config file, like every other path here.
      installCommand: [program!.includes('/') ? resolve(baseDir, program!) : program!, ...args],
      installTimeoutMs: timeout.value,
      maintenanceWindow: (window as Record<string, unknown> | undefined) ?? null,
      versionFile: typeof d.value.version_file === 'string' ? resolve(baseDir, d.value.version_file) : null,
      initialVersion: typeof d.value.initial_version === 'string' ? d.value.initial_version : '0.0.0',
      installEnv: env as Record<string, string>,
    }
  }

  const ledger = table(doc.ledger, 'ledger')
  if (!ledger.ok) return ledger
  const ledgerKeys = checkKeys(ledger.value, ['max_chain_age'], 'ledger')
  if (!ledgerKeys.ok) return ledgerKeys
  let maxChainAgeMs: number | null = null
  if (ledger.value.max_chain_age !== undefined) {
    const age = parseDuration(ledger.value.max_chain_age, 'ledger.max_chain_age')
    if (!age.ok) return age
    if (age.value < MAX_CHAIN_AGE_MIN_MS || age.value > MAX_CHAIN_AGE_MAX_MS)
      return fail('ledger.max_chain_age must be from 1s to 7 days (168h)')
    maxChainAgeMs = age.value
  }

  const log = table(doc.log, 'log')
  if (!log.ok) return log
  const level = log.value.level ?? 'info'
  if (!LOG_LEVELS.includes(level as LogLevel))
    return fail(`log.level must be one of ${LOG_LEVELS.join(', ')}`)

  return ok({
    dataDir,
    genesisPath,
    keyPath,
    role,
    network: {
      listen: listen.value,
      bootstrap: bootstrap.value,
      mdns,
      targetConnections: targetConnections.value,
      maxConnections: maxConnections.value,
    },
    api: { host: apiHost, port: apiPort },
    bandwidth: { uploadBytesPerSec: upload.value, downloadBytesPerSec: download.value },
    device,
    ledger: { maxChainAgeMs },
    log: { level: level as LogLevel },
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
