import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { buildConfig, loadConfig, parseDuration, parseRate } from '../../src/node/config.js'
import { tempDir } from '../helpers/tmp.js'

describe('node: config', () => {
  it('fills sensible defaults: follower, API on 127.0.0.1:7070, no bandwidth limit, mDNS on', () => {
    const r = buildConfig({ data_dir: 'data' }, {}, '/etc/fwmesh')
    if (!r.ok) throw new Error(r.error.message)
    expect(r.value).toMatchObject({
      dataDir: '/etc/fwmesh/data',
      genesisPath: '/etc/fwmesh/data/genesis.json',
      keyPath: '/etc/fwmesh/data/node.key',
      role: 'follower',
      api: { host: '127.0.0.1', port: 7070 },
      bandwidth: { uploadBytesPerSec: 0, downloadBytesPerSec: 0 },
      network: { mdns: true, bootstrap: [], targetConnections: 32, maxConnections: 128 },
      device: null,
    })
  })

  it('reads the connection target and maximum from the file or the environment', () => {
    const file = buildConfig(
      { data_dir: 'd', network: { target_connections: 8, max_connections: 16 } },
      {},
      '/x',
    )
    expect(file.ok && file.value.network).toMatchObject({ targetConnections: 8, maxConnections: 16 })
    const env = buildConfig(
      { data_dir: 'd' },
      { FWMESH_TARGET_CONNECTIONS: '4', FWMESH_MAX_CONNECTIONS: '6' },
      '/x',
    )
    expect(env.ok && env.value.network).toMatchObject({ targetConnections: 4, maxConnections: 6 })
    // A max below the default target brings the default target down with it.
    const small = buildConfig({ data_dir: 'd', network: { max_connections: 10 } }, {}, '/x')
    expect(small.ok && small.value.network).toMatchObject({ targetConnections: 10, maxConnections: 10 })
  })

  it('lets environment variables override the file', () => {
    const r = buildConfig(
      { data_dir: 'data', api: { listen: '127.0.0.1:1' }, bandwidth: { upload: '1 MiB/s' } },
      {
        FWMESH_API_LISTEN: '127.0.0.1:9999',
        FWMESH_UPLOAD: '2 MiB/s',
        FWMESH_BOOTSTRAP: '/ip4/127.0.0.1/tcp/1/p2p/a, /ip4/127.0.0.1/tcp/2/p2p/b',
        FWMESH_MDNS: 'false',
      },
      '/x',
    )
    if (!r.ok) throw new Error(r.error.message)
    expect(r.value.api.port).toBe(9999)
    expect(r.value.bandwidth.uploadBytesPerSec).toBe(2 * 1024 * 1024)
    expect(r.value.network.bootstrap).toEqual(['/ip4/127.0.0.1/tcp/1/p2p/a', '/ip4/127.0.0.1/tcp/2/p2p/b'])
    expect(r.value.network.mdns).toBe(false)
  })

  it('reads a device section with its install command and window', () => {
    const r = buildConfig(
      {
        data_dir: '/d',
        device: {
          product: 'gw',
          hardware: 'rev-b',
          install_command: ['hooks/script.sh', '--flag'],
          install_timeout: '2m',
          maintenance_window: { start: '02:00', end: '04:00' },
        },
      },
      {},
      '/etc/fwmesh',
    )
    if (!r.ok) throw new Error(r.error.message)
    expect(r.value.device).toEqual({
      product: 'gw',
      hardware: 'rev-b',
      channel: 'stable',
      installCommand: ['/etc/fwmesh/hooks/script.sh', '--flag'],
      installTimeoutMs: 120_000,
      maintenanceWindow: { start: '02:00', end: '04:00' },
      versionFile: null,
      initialVersion: '0.0.0',
      installEnv: {},
    })
  })

  it('reads the running-version file, the initial version and the hook environment of a device', () => {
    const r = buildConfig(
      {
        data_dir: '/d',
        device: {
          product: 'gw',
          hardware: 'a',
          install_command: ['/bin/true'],
          version_file: 'installed/version',
          initial_version: '1.0.0',
          install_env: { FWMESH_INSTALL_DIR: '/data/fw' },
        },
      },
      {},
      '/etc/fwmesh',
    )
    if (!r.ok) throw new Error(r.error.message)
    expect(r.value.device).toMatchObject({
      versionFile: '/etc/fwmesh/installed/version',
      initialVersion: '1.0.0',
      installEnv: { FWMESH_INSTALL_DIR: '/data/fw' },
    })
    const bad = buildConfig(
      {
        data_dir: '/d',
        device: { product: 'gw', hardware: 'a', install_command: ['x'], install_env: { A: 1 } },
      },
      {},
      '/x',
    )
    expect(bad.ok ? '' : bad.error.message).toMatch(/install_env must be a table of strings/)
  })

  const faults: Array<[string, Record<string, unknown>, RegExp]> = [
    ['no data_dir', {}, /data_dir is required/],
    ['an unknown top-level key', { data_dir: 'd', colour: 'red' }, /unknown key "colour"/],
    ['an unknown role', { data_dir: 'd', role: 'boss' }, /role must be/],
    [
      'an API address without a port',
      { data_dir: 'd', api: { listen: 'localhost' } },
      /api\.listen must be host:port/,
    ],
    ['a rate that is not a rate', { data_dir: 'd', bandwidth: { upload: 'fast' } }, /bandwidth\.upload/],
    [
      'a device without hardware',
      { data_dir: 'd', device: { product: 'gw', install_command: ['x'] } },
      /device\.hardware is required/,
    ],
    [
      'a device without an install command',
      { data_dir: 'd', device: { product: 'gw', hardware: 'a' } },
      /install_command is required/,
    ],
    ['a log level that does not exist', { data_dir: 'd', log: { level: 'loud' } }, /log\.level/],
    [
      'a target above the maximum of connections',
      { data_dir: 'd', network: { target_connections: 20, max_connections: 10 } },
      /network\.target_connections must be a whole number from 1 to 10 \(network\.max_connections\)/,
    ],
    [
      'a maximum of connections out of range',
      { data_dir: 'd', network: { max_connections: 0 } },
      /network\.max_connections must be a whole number from 1 to 10000/,
    ],
    [
      'a maximum of connections that is not a number',
      { data_dir: 'd', network: { max_connections: 'many' } },
      /network\.max_connections/,
    ],
  ]
  for (const [name, doc, message] of faults) {
    it(`refuses ${name} with a sentence naming the key`, () => {
      const r = buildConfig(doc, {}, '/x')
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.error.message).toMatch(message)
    })
  }

  it('parses rates and durations with units', () => {
    expect(
      [parseRate('4 MiB/s', 'r'), parseRate('500kb/s', 'r'), parseRate(1000, 'r'), parseRate('0', 'r')].map(
        (r) => r.ok && r.value,
      ),
    ).toEqual([4 * 1024 * 1024, 500_000, 1000, 0])
    expect(
      [parseDuration('15m', 'd'), parseDuration('30s', 'd'), parseDuration('500ms', 'd')].map(
        (r) => r.ok && r.value,
      ),
    ).toEqual([900_000, 30_000, 500])
    expect(parseDuration('soon', 'd').ok).toBe(false)
  })

  it('reports a missing file and invalid TOML in one sentence', async () => {
    const { dir, cleanup } = await tempDir('config')
    try {
      const missing = await loadConfig(join(dir, 'nope.toml'))
      expect(missing.ok ? '' : missing.error.message).toMatch(/no config file at/)
      await writeFile(join(dir, 'bad.toml'), 'data_dir = \n')
      const bad = await loadConfig(join(dir, 'bad.toml'))
      expect(bad.ok ? '' : bad.error.message).toMatch(/is not valid TOML/)
    } finally {
      await cleanup()
    }
  })
})
