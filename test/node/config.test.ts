import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CONFIG_DOC_PATH, renderConfigReference } from '../../scripts/config-doc.js'
import { TIMER_DELAY_MS_MAX } from '../../src/constants.js'
import {
  buildConfig,
  CONFIG_FIELDS,
  ENV_OVERRIDES,
  loadConfig,
  type NodeConfig,
  parseDuration,
  parseRate,
} from '../../src/node/config.js'
import { tempDir } from '../helpers/tmp.js'

const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
const DEVICE = { product: 'gw', hardware: 'rev-a', install_command: ['/bin/true'] }
const KIB = 1024
const DAY_MS = 86_400_000

/** A minimal document with `key` (dotted) set to `value`; device fields get a device section. */
function docWith(key: string, value: unknown): Record<string, unknown> {
  const doc: Record<string, unknown> = { data_dir: 'd' }
  const [section, name] = key.includes('.') ? key.split('.') : [undefined, key]
  if (!section) {
    if (value === undefined) delete doc[name!]
    else doc[name!] = value
    return doc
  }
  const table: Record<string, unknown> = section === 'device' ? { ...DEVICE } : {}
  if (value === undefined) delete table[name!]
  else table[name!] = value
  doc[section] = table
  return doc
}

const list = (n: number, make: (i: number) => string) => Array.from({ length: n }, (_, i) => make(i))

/**
 * Every field of the configuration, in and out of its range. `good` pairs a value with what
 * the built config then holds; `bad` values are out of range or malformed, and each must stop
 * the start naming the field and its range.
 */
const FIELD_CASES: Record<
  string,
  { good: Array<[unknown, (c: NodeConfig) => unknown, unknown]>; bad: unknown[] }
> = {
  data_dir: { good: [['data', (c) => c.dataDir, '/x/data']], bad: [undefined, '', 5, ['a']] },
  genesis: {
    good: [
      ['g.json', (c) => c.genesisPath, '/x/g.json'],
      [undefined, (c) => c.genesisPath, '/x/d/genesis.json'],
    ],
    bad: ['', 5, true],
  },
  key: {
    good: [
      ['k.key', (c) => c.keyPath, '/x/d/k.key'],
      ['/etc/k.key', (c) => c.keyPath, '/etc/k.key'],
    ],
    bad: ['', 5],
  },
  role: {
    good: [
      ['validator', (c) => c.role, 'validator'],
      [undefined, (c) => c.role, 'follower'],
    ],
    bad: ['boss', 1, ''],
  },
  'network.listen': {
    good: [
      [['/ip4/127.0.0.1/tcp/0'], (c) => c.network.listen, ['/ip4/127.0.0.1/tcp/0']],
      [list(16, (i) => `/ip4/127.0.0.1/tcp/${4000 + i}`), (c) => c.network.listen.length, 16],
      [undefined, (c) => c.network.listen, ['/ip4/0.0.0.0/tcp/4001']],
    ],
    bad: [[], list(17, (i) => `/ip4/127.0.0.1/tcp/${4000 + i}`), ['not-a-multiaddr'], [5], 5],
  },
  'network.bootstrap': {
    good: [
      [[`/ip4/127.0.0.1/tcp/1/p2p/${PEER}`], (c) => c.network.bootstrap.length, 1],
      [list(256, (i) => `/ip4/127.0.0.1/tcp/${i + 1}/p2p/${PEER}`), (c) => c.network.bootstrap.length, 256],
      [undefined, (c) => c.network.bootstrap, []],
    ],
    bad: [['/ip4/127.0.0.1/tcp/1'], list(257, (i) => `/ip4/127.0.0.1/tcp/${i + 1}/p2p/${PEER}`), [7], 'x'],
  },
  'network.mdns': {
    good: [
      [false, (c) => c.network.mdns, false],
      ['true', (c) => c.network.mdns, true],
    ],
    bad: ['maybe', 2],
  },
  'network.target_connections': {
    good: [
      [1, (c) => c.network.targetConnections, 1],
      [128, (c) => c.network.targetConnections, 128],
      [undefined, (c) => c.network.targetConnections, 32],
    ],
    bad: [0, 129, 2.5, 'many', -1],
  },
  'network.max_connections': {
    good: [
      [64, (c) => c.network.maxConnections, 64],
      [10_000, (c) => c.network.maxConnections, 10_000],
      // A max below the default target brings the default target down with it.
      [10, (c) => c.network.targetConnections, 10],
    ],
    bad: [0, 10_001, 'many', 1.5],
  },
  'api.listen': {
    good: [
      ['127.0.0.1:0', (c) => c.api, expect.objectContaining({ host: '127.0.0.1', port: 0 })],
      ['[::1]:65535', (c) => c.api, expect.objectContaining({ host: '::1', port: 65535 })],
      ['localhost:7071', (c) => c.api.port, 7071],
    ],
    bad: ['localhost', '127.0.0.1:65536', '127.0.0.1:port', 7070],
  },
  'api.allowed_hosts': {
    good: [
      [['gateway.lan', '192.0.2.10'], (c) => c.api.allowedHosts, ['gateway.lan', '192.0.2.10']],
      [list(64, (i) => `h${i}.lan`), (c) => c.api.allowedHosts.length, 64],
    ],
    bad: [list(65, (i) => `h${i}.lan`), [5], 5],
  },
  'api.token_file': {
    good: [
      ['token', (c) => c.api.tokenFile, '/x/token'],
      [undefined, (c) => c.api.tokenFile, null],
    ],
    bad: ['', 5],
  },
  'bandwidth.upload': {
    good: [
      ['4 MiB/s', (c) => c.bandwidth.uploadBytesPerSec, 4 * KIB * KIB],
      ['8 KiB/s', (c) => c.bandwidth.uploadBytesPerSec, 8 * KIB],
      ['10 GiB/s', (c) => c.bandwidth.uploadBytesPerSec, 10 * KIB ** 3],
      [0, (c) => c.bandwidth.uploadBytesPerSec, 0],
      ['500kb/s', (c) => c.bandwidth.uploadBytesPerSec, 500_000],
    ],
    bad: ['1 KiB/s', 8191, '11 GiB/s', 'fast', -1, '1.5.5 MiB/s', '1e9'],
  },
  'bandwidth.download': {
    good: [
      ['1.5 MiB/s', (c) => c.bandwidth.downloadBytesPerSec, 1.5 * KIB * KIB],
      ['0', (c) => c.bandwidth.downloadBytesPerSec, 0],
    ],
    bad: ['100 B/s', '20 GiB/s', 'lots'],
  },
  'device.product': {
    good: [['x'.repeat(64), (c) => c.device?.product, 'x'.repeat(64)]],
    bad: [undefined, '', 'x'.repeat(65), 5],
  },
  'device.hardware': {
    good: [['rev-b', (c) => c.device?.hardware, 'rev-b']],
    bad: [undefined, '', 'x'.repeat(65), ['a']],
  },
  'device.channel': {
    good: [
      ['beta', (c) => c.device?.channel, 'beta'],
      [undefined, (c) => c.device?.channel, 'stable'],
    ],
    bad: ['', 'x'.repeat(65), 1],
  },
  'device.install_command': {
    good: [
      [['hooks/script.sh', '--flag'], (c) => c.device?.installCommand, ['/x/hooks/script.sh', '--flag']],
      [['rauc-install'], (c) => c.device?.installCommand, ['rauc-install']],
    ],
    bad: [undefined, [], list(65, (i) => `w${i}`), [5]],
  },
  'device.install_timeout': {
    good: [
      ['2m', (c) => c.device?.installTimeoutMs, 120_000],
      ['1s', (c) => c.device?.installTimeoutMs, 1_000],
      ['7d', (c) => c.device?.installTimeoutMs, 7 * DAY_MS],
      ['168h', (c) => c.device?.installTimeoutMs, 7 * DAY_MS],
      [90_000, (c) => c.device?.installTimeoutMs, 90_000],
      [undefined, (c) => c.device?.installTimeoutMs, 15 * 60_000],
    ],
    // "600h" once overflowed setTimeout and killed the hook after 6 ms.
    bad: ['600h', '8d', '999ms', '0s', 0, -1, 'soon', '15 minutes', '1.5h', '99999999999999999d'],
  },
  'device.install_env': {
    good: [
      [{ FWMESH_INSTALL_DIR: '/data/fw' }, (c) => c.device?.installEnv, { FWMESH_INSTALL_DIR: '/data/fw' }],
    ],
    bad: [{ A: 1 }, ['A=1'], Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`V${i}`, 'x']))],
  },
  'device.confirm_command': {
    good: [
      [['hooks/rauc.sh', 'confirm'], (c) => c.device?.confirmCommand, ['/x/hooks/rauc.sh', 'confirm']],
      [undefined, (c) => c.device?.confirmCommand, null],
    ],
    bad: [[], list(65, (i) => `w${i}`), [5]],
  },
  'device.confirm_timeout': {
    good: [
      ['30s', (c) => c.device?.confirmTimeoutMs, 30_000],
      ['1h', (c) => c.device?.confirmTimeoutMs, 3_600_000],
      [undefined, (c) => c.device?.confirmTimeoutMs, 120_000],
    ],
    bad: ['2h', '999ms', '0s', 'soon'],
  },
  'device.boot_id_file': {
    good: [
      ['boot-id', (c) => c.device?.bootIdFile, '/x/boot-id'],
      [undefined, (c) => c.device?.bootIdFile, '/proc/sys/kernel/random/boot_id'],
    ],
    bad: [5, ''],
  },
  'device.maintenance_window': {
    good: [
      [
        { start: '02:00', end: '04:30', days: ['sat'], utc_offset_minutes: 840 },
        (c) => c.device?.maintenanceWindow,
        { start: '02:00', end: '04:30', days: ['sat'], utc_offset_minutes: 840 },
      ],
      [undefined, (c) => c.device?.maintenanceWindow, null],
    ],
    bad: [
      { start: '02:00', end: '04:00', utc_offset_minutes: 841 },
      { start: '02:00', end: '04:00', utc_offset_minutes: -721 },
      { start: '25:00', end: '04:00' },
      { start: '02:00', end: '02:00' },
      { start: '02:00', end: '04:00', days: ['someday'] },
      '02:00-04:00',
    ],
  },
  'device.version_file': {
    good: [
      ['installed/version', (c) => c.device?.versionFile, '/x/installed/version'],
      [undefined, (c) => c.device?.versionFile, null],
    ],
    bad: [5, ''],
  },
  'device.initial_version': {
    good: [
      ['1.0.0', (c) => c.device?.initialVersion, '1.0.0'],
      [undefined, (c) => c.device?.initialVersion, '0.0.0'],
    ],
    bad: ['one', '1.0', 5],
  },
  'ledger.max_chain_age': {
    good: [
      ['90s', (c) => c.ledger.maxChainAgeMs, 90_000],
      ['1s', (c) => c.ledger.maxChainAgeMs, 1_000],
      ['7d', (c) => c.ledger.maxChainAgeMs, 7 * DAY_MS],
      [undefined, (c) => c.ledger.maxChainAgeMs, null],
    ],
    bad: ['8d', '999ms', '0s', 0, -1, 'stale', '1.5m'],
  },
  'log.level': {
    good: [
      ['debug', (c) => c.log.level, 'debug'],
      [undefined, (c) => c.log.level, 'info'],
    ],
    bad: ['loud', 3],
  },
}

function built(doc: Record<string, unknown>, env: Record<string, string> = {}) {
  return buildConfig(doc, env, '/x')
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

describe('node: config', () => {
  it('has a case for every field, and docs/config.md is the table as generated (npm run docs:config)', async () => {
    expect(Object.keys(FIELD_CASES).sort()).toEqual(CONFIG_FIELDS.map((f) => f.key).sort())
    const doc = await readFile(CONFIG_DOC_PATH, 'utf8')
    expect(doc, 'docs/config.md differs from CONFIG_FIELDS: run `npm run docs:config`').toBe(
      renderConfigReference(),
    )
    for (const field of CONFIG_FIELDS) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${field.key}\` |`))
      expect(row, `docs/config.md has a row for ${field.key}`).toBeDefined()
      expect(row, `the row of ${field.key} states its range`).toContain(field.range.replace(/\|/g, '\\|'))
    }
  })

  for (const field of CONFIG_FIELDS) {
    const cases = FIELD_CASES[field.key]
    if (!cases) continue
    it(`${field.key}: takes ${field.range}`, () => {
      for (const [value, read, expected] of cases.good) {
        const r = built(docWith(field.key, value))
        if (!r.ok) throw new Error(`${field.key} = ${JSON.stringify(value)}: ${r.error.message}`)
        expect(read(r.value), `${field.key} = ${JSON.stringify(value)}`).toEqual(expected)
      }
      for (const value of cases.bad) {
        const r = built(docWith(field.key, value))
        const what = `${field.key} = ${JSON.stringify(value)?.slice(0, 80)}`
        expect(r.ok, what).toBe(false)
        if (r.ok) continue
        expect(r.error.message, `${what}: names the field`).toContain(field.key)
        expect(r.error.message, `${what}: states the range`).toContain(field.range)
      }
    })
    if (field.env) {
      it(`${field.key}: the environment (${field.env}) overrides the file, and a bad value names the variable`, () => {
        const bad = cases.bad.find((v): v is string => typeof v === 'string' && v !== '')
        const good = cases.good.find(
          ([v]) => typeof v === 'string' || Array.isArray(v) || typeof v === 'number',
        )
        if (good) {
          const [value, read, expected] = good
          const text = Array.isArray(value) ? value.join(',') : String(value)
          const r = built(docWith(field.key, undefined), { [field.env!]: text })
          if (!r.ok) throw new Error(`${field.env}=${text}: ${r.error.message}`)
          expect(read(r.value), `${field.env}=${text}`).toEqual(expected)
        }
        if (bad !== undefined) {
          const r = built(docWith(field.key, undefined), { [field.env!]: bad })
          expect(r.ok, `${field.env}=${bad}`).toBe(false)
          if (!r.ok) {
            expect(r.error.message).toContain(`${field.key} (from ${field.env})`)
            expect(r.error.message).toContain(field.range)
          }
        }
      })
    }
  }

  it('fills sensible defaults: follower, API on 127.0.0.1:7070, no bandwidth limit, mDNS on', () => {
    const r = buildConfig({ data_dir: 'data' }, {}, '/etc/fwmesh')
    if (!r.ok) throw new Error(r.error.message)
    expect(r.value).toMatchObject({
      dataDir: '/etc/fwmesh/data',
      genesisPath: '/etc/fwmesh/data/genesis.json',
      keyPath: '/etc/fwmesh/data/node.key',
      role: 'follower',
      api: { host: '127.0.0.1', port: 7070, allowedHosts: [], tokenFile: null },
      bandwidth: { uploadBytesPerSec: 0, downloadBytesPerSec: 0 },
      network: { mdns: true, bootstrap: [], targetConnections: 32, maxConnections: 128 },
      device: null,
    })
    expect(Object.values(ENV_OVERRIDES)).toEqual(CONFIG_FIELDS.filter((f) => f.env).map((f) => f.key))
  })

  it('a target of connections above the maximum names both', () => {
    const r = built({ data_dir: 'd', network: { target_connections: 20, max_connections: 10 } })
    expect(r.ok ? '' : r.error.message).toMatch(
      /^network\.target_connections must be a whole number from 1 to network\.max_connections \(10\); got 20$/,
    )
  })

  it('refuses an API beyond loopback without a token file, and takes one with it', () => {
    for (const listen of ['0.0.0.0:7070', '[::]:7070', '192.0.2.1:7070', 'gateway.lan:7070']) {
      const r = built({ data_dir: 'd', api: { listen } })
      expect(r.ok ? '' : r.error.message, listen).toMatch(
        new RegExp(`^api\\.listen "${escapeRegExp(listen)}" is beyond loopback: set api\\.token_file`),
      )
      const withToken = built({ data_dir: 'd', api: { listen, token_file: '/etc/fwmesh/api-token' } })
      expect(withToken.ok, listen).toBe(true)
    }
    for (const listen of ['127.0.0.1:7070', '127.0.0.5:1', '[::1]:7070', 'localhost:7070'])
      expect(built({ data_dir: 'd', api: { listen } }).ok, listen).toBe(true)
  })

  it('refuses unknown keys and sections that are not tables', () => {
    expect(built({ data_dir: 'd', colour: 'red' })).toMatchObject({ ok: false })
    const unknown = built({ data_dir: 'd', api: { listen: '127.0.0.1:1', tokn_file: 'x' } })
    expect(unknown.ok ? '' : unknown.error.message).toMatch(/unknown key "tokn_file" in \[api\]/)
    const notTable = built({ data_dir: 'd', network: 'fast' })
    expect(notTable.ok ? '' : notTable.error.message).toMatch(/\[network\] must be a table/)
  })

  it('parses rates and durations with units; no duration past what a timer can wait', () => {
    expect(
      [parseRate('4 MiB/s', 'r'), parseRate('500kb/s', 'r'), parseRate(1000, 'r'), parseRate('0', 'r')].map(
        (r) => r.ok && r.value,
      ),
    ).toEqual([4 * 1024 * 1024, 500_000, 1000, 0])
    expect(
      [
        parseDuration('15m', 'd'),
        parseDuration('30s', 'd'),
        parseDuration('500ms', 'd'),
        parseDuration('2d', 'd'),
      ].map((r) => r.ok && r.value),
    ).toEqual([900_000, 30_000, 500, 2 * DAY_MS])
    expect(parseDuration('soon', 'd').ok).toBe(false)
    expect(parseDuration('600h', 'd').ok, '600 h is past 2^31-1 ms').toBe(false)
    expect(parseDuration(TIMER_DELAY_MS_MAX, 'd').ok).toBe(true)
  })

  it('reports a missing file and invalid TOML in one sentence', async () => {
    const { dir, cleanup } = await tempDir('config')
    try {
      const missing = await loadConfig(join(dir, 'nope.toml'))
      expect(missing.ok ? '' : missing.error.message).toMatch(/no config file at/)
      await writeFile(join(dir, 'bad.toml'), 'data_dir = \n')
      const bad = await loadConfig(join(dir, 'bad.toml'))
      expect(bad.ok ? '' : bad.error.message).toMatch(/is not valid TOML/)
      await writeFile(
        join(dir, 'long.toml'),
        'data_dir = "d"\n[device]\nproduct = "gw"\nhardware = "a"\ninstall_command = ["/bin/true"]\ninstall_timeout = "600h"\n',
      )
      const long = await loadConfig(join(dir, 'long.toml'))
      expect(long.ok ? '' : long.error.message).toBe(
        'device.install_timeout must be a duration from 1s to 7d, like "15m", "90s" or "2h"; got "600h"',
      )
    } finally {
      await cleanup()
    }
  })
})
