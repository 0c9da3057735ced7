import { spawn } from 'node:child_process'
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../scripts/fleet.js'
import { NodeClient } from '../../src/cli/api-client.js'
import { generateKeyPair } from '../../src/crypto/ed25519.js'
import { writeKeyFile } from '../../src/node/store/key-files.js'
import { FWMESH_BIN, runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/tmp.js'

/**
 * `fwmesh config example` gives an operator a file that starts as it is (once the genesis is in
 * its data directory), and `fwmesh config check` says whether a file would start, naming the
 * field that would not.
 */
describe('cli: fwmesh config example and check', () => {
  let dir: string
  let cleanup: () => Promise<void>
  const validator = generateKeyPair()
  let genesisPath: string

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('config-command'))
    await writeKeyFile(join(dir, 'admin.key'), generateKeyPair())
    await writeKeyFile(join(dir, 'v0.key'), validator)
    genesisPath = join(dir, 'genesis.json')
    const made = await runCli([
      'genesis',
      'init',
      '--chain-id',
      'config-example',
      '--validator',
      `v0=${join(dir, 'v0.key')}`,
      '--admin',
      join(dir, 'admin.key'),
      '--threshold',
      '1',
      '--out',
      genesisPath,
    ])
    expect(made.code, made.stderr).toBe(0)
  })
  afterAll(async () => {
    await cleanup?.()
  })

  /** The example for `role`, written with its data directory prepared as the comments say. */
  async function example(role: string): Promise<{ file: string; dataDir: string }> {
    const dataDir = join(dir, `${role}-data`)
    const r = await runCli(['config', 'example', '--role', role, '--data-dir', dataDir])
    expect(r.code, r.stderr).toBe(0)
    await mkdir(dataDir, { recursive: true })
    await copyFile(genesisPath, join(dataDir, 'genesis.json'))
    if (role === 'validator') await writeKeyFile(join(dataDir, 'node.key'), validator)
    const file = join(dir, `${role}.toml`)
    await writeFile(file, r.stdout)
    return { file, dataDir }
  }

  it.each(['validator', 'origin', 'device'])('the %s example passes config check', async (role) => {
    const { file } = await example(role)
    const checked = await runCli(['--json', 'config', 'check', file])
    expect(checked.code, checked.stderr).toBe(0)
    expect(JSON.parse(checked.stdout)).toMatchObject({
      ok: true,
      role: role === 'validator' ? 'validator' : 'follower',
      device: role === 'device',
      chain: 'config-example',
    })
  })

  it.each(['validator', 'device'])(
    'the %s example starts as it is (ports moved by environment)',
    async (role) => {
      const { file } = await example(role)
      const apiPort = await freePort()
      const child = spawn(FWMESH_BIN, ['node', '--config', file], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {
          ...process.env,
          FWMESH_LISTEN: `/ip4/127.0.0.1/tcp/${await freePort()}`,
          FWMESH_API_LISTEN: `127.0.0.1:${apiPort}`,
          FWMESH_MDNS: 'false',
        },
      })
      let stderr = ''
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString()
      })
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
      try {
        const client = new NodeClient(`http://127.0.0.1:${apiPort}`)
        let status: Record<string, unknown> | undefined
        while (!status && child.exitCode === null) {
          status = await client.status().catch(() => undefined)
          if (!status) await new Promise((r) => setTimeout(r, 100))
        }
        expect(status, stderr).toMatchObject({
          role: role === 'validator' ? 'validator' : 'follower',
          chain: 'config-example',
        })
        expect(Boolean(status!.device), stderr).toBe(role === 'device')
      } finally {
        child.kill('SIGTERM')
        await exited
      }
    },
  )

  it('check names the field out of its range and the genesis it cannot read', async () => {
    const { file, dataDir } = await example('device')
    const text = await readFile(file, 'utf8')
    const badTimeout = join(dir, 'bad-timeout.toml')
    await writeFile(badTimeout, text.replace('# install_timeout = "15m"', 'install_timeout = "600h"'))
    const r1 = await runCli(['config', 'check', badTimeout])
    expect(r1.code).toBe(1)
    expect(r1.stderr).toMatch(/device\.install_timeout/)
    const noGenesis = join(dir, 'no-genesis.toml')
    await writeFile(
      noGenesis,
      text.replace(
        `data_dir = ${JSON.stringify(dataDir)}`,
        `data_dir = ${JSON.stringify(join(dir, 'empty'))}`,
      ),
    )
    const r2 = await runCli(['config', 'check', noGenesis])
    expect(r2.code).toBe(1)
    expect(r2.stderr.trim()).toBe(
      `fwmesh: genesis ${join(dir, 'empty', 'genesis.json')}: cannot read it (ENOENT)`,
    )
    const r3 = await runCli(['config', 'example', '--role', 'gateway'])
    expect(r3.code).toBe(2)
    expect(r3.stderr).toMatch(/--role must be one of validator, origin, device/)
  })
})
