import { mkdir, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../scripts/fleet.js'
import { generateKeyPair } from '../../src/crypto/ed25519.js'
import { writeKeyFile } from '../../src/node/store/key-files.js'
import { runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/tmp.js'

/**
 * What an operator sees when `fwmesh node` cannot start: one line on stderr that names the
 * setting and the fix, a documented exit code, no stack trace, and no process left running
 * (before, a taken API port left a validator running without its API, and a taken p2p port
 * printed libp2p's stack trace).
 */
describe('cli: fwmesh node start-up errors', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let squatter: Server
  let takenPort: number
  const validator = generateKeyPair()

  const config = async (name: string, fields: { p2p: number; api: number; dataDir?: string }) => {
    const dataDir = fields.dataDir ?? join(dir, name)
    await mkdir(dataDir, { recursive: true }).catch(() => {})
    await writeKeyFile(join(dataDir, 'node.key'), validator).catch(() => {})
    const path = join(dir, `${name}.toml`)
    await writeFile(
      path,
      [
        `data_dir = ${JSON.stringify(dataDir)}`,
        `genesis = ${JSON.stringify(join(dir, 'genesis.json'))}`,
        'role = "validator"',
        '[network]',
        `listen = ["/ip4/127.0.0.1/tcp/${fields.p2p}"]`,
        'mdns = false',
        '[api]',
        `listen = "127.0.0.1:${fields.api}"`,
      ].join('\n'),
    )
    return path
  }

  /** The one line a failed start prints, after checking that it is the only one. */
  const oneLine = (stderr: string) => {
    const lines = stderr.trim().split('\n')
    expect(lines, stderr).toHaveLength(1)
    expect(stderr).not.toMatch(/\n\s+at /)
    return lines[0]!
  }

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('node-start-errors'))
    const adminKey = join(dir, 'admin.key')
    await writeKeyFile(adminKey, generateKeyPair())
    await writeKeyFile(join(dir, 'v0.key'), validator)
    const genesis = await runCli([
      'genesis',
      'init',
      '--chain-id',
      'start-errors',
      '--validator',
      `v0=${join(dir, 'v0.key')}`,
      '--admin',
      adminKey,
      '--threshold',
      '1',
      '--out',
      join(dir, 'genesis.json'),
    ])
    expect(genesis.code, genesis.stderr).toBe(0)
    takenPort = await freePort()
    squatter = createServer()
    await new Promise<void>((resolve) => squatter.listen(takenPort, '127.0.0.1', resolve))
  })
  afterAll(async () => {
    await new Promise((resolve) => squatter?.close(resolve))
    await cleanup?.()
  })

  it('exits 8 naming network.listen when the p2p port is taken', async () => {
    const r = await runCli([
      'node',
      '--config',
      await config('p2p', { p2p: takenPort, api: await freePort() }),
    ])
    expect(r.code).toBe(8)
    expect(oneLine(r.stderr)).toBe(
      `fwmesh: network.listen: cannot listen on /ip4/127.0.0.1/tcp/${takenPort} (EADDRINUSE): the port is in use by another program (another fwmesh node?): stop it or choose another port`,
    )
  })

  it('exits 8 naming api.listen when the API port is taken, before it binds the p2p port', async () => {
    const p2p = await freePort()
    const r = await runCli(['node', '--config', await config('api', { p2p, api: takenPort })])
    expect(r.code).toBe(8)
    expect(oneLine(r.stderr)).toBe(
      `fwmesh: api.listen: cannot listen on 127.0.0.1:${takenPort} (EADDRINUSE): the port is in use by another program (another fwmesh node?): stop it or choose another port`,
    )
    // The API is bound first: the node never opened its ledger or the p2p port.
    const probe = createServer()
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject)
      probe.listen(p2p, '127.0.0.1', resolve)
    })
    await new Promise((resolve) => probe.close(resolve))
  })

  it('exits 1 naming data_dir when the data directory is a file', async () => {
    const file = join(dir, 'not-a-folder')
    await writeFile(file, 'x')
    const path = await config('file', {
      p2p: await freePort(),
      api: await freePort(),
      dataDir: join(dir, 'ok'),
    })
    const r = await runCli(['node', '--config', path], { env: { FWMESH_DATA_DIR: file } })
    expect(r.code).toBe(1)
    expect(oneLine(r.stderr)).toMatch(
      new RegExp(
        `^fwmesh: data_dir ${file}: cannot use it as the node's data directory \\(EEXIST\\): a file \\(not a folder\\) has that name`,
      ),
    )
  })

  it('exits 1 naming the key file when it is not a key', async () => {
    const dataDir = join(dir, 'badkey')
    const path = await config('badkey', { p2p: await freePort(), api: await freePort(), dataDir })
    await writeFile(join(dataDir, 'node.key'), 'not a key\n')
    const r = await runCli(['node', '--config', path])
    expect(r.code).toBe(1)
    expect(oneLine(r.stderr)).toMatch(/^fwmesh: .*node\.key/)
  })
})
