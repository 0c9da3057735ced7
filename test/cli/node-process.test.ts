import { type ChildProcess, spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../scripts/fleet.js'
import { NodeClient } from '../../src/cli/api-client.js'
import { toHex } from '../../src/codec/bytes.js'
import { MEMORY_IDLE_AFTER_MS, MEMORY_SETTLE_COLLECTIONS } from '../../src/constants.js'
import { didFromPublicKey } from '../../src/crypto/did.js'
import { generateKeyPair } from '../../src/crypto/ed25519.js'
import { signTx, type TxBody } from '../../src/ledger/tx.js'
import { writeKeyFile } from '../../src/node/store/key-files.js'
import { FWMESH_BIN, runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/tmp.js'

interface Running {
  readonly child: ChildProcess
  readonly exited: Promise<{ code: number | null; stderr: string }>
}

function startNode(config: string): Running {
  const child = spawn(FWMESH_BIN, ['node', '--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, stderr })),
  )
  return { child, exited }
}

async function waitForApi(client: NodeClient): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      await client.status()
      return
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  throw new Error('the node did not start')
}

describe('cli: fwmesh node as a process', () => {
  const admin = generateKeyPair()
  const validator = generateKeyPair()
  let dir: string
  let cleanup: () => Promise<void>
  let config: string
  let client: NodeClient
  let running: Running | undefined

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('node-process'))
    await writeKeyFile(join(dir, 'node.key'), validator)
    const genesis = await runCli([
      'genesis',
      'init',
      '--chain-id',
      'proc',
      '--threshold',
      '1',
      '--admin',
      didFromPublicKey(admin.publicKey),
      '--validator',
      `v0=${toHex(validator.publicKey)}`,
      '--out',
      join(dir, 'genesis.json'),
    ])
    expect(genesis.code, genesis.stderr).toBe(0)
    const apiPort = await freePort()
    const p2pPort = await freePort()
    config = join(dir, 'fwmesh.toml')
    await writeFile(
      config,
      [
        `data_dir = ${JSON.stringify(dir)}`,
        `genesis = ${JSON.stringify(join(dir, 'genesis.json'))}`,
        'role = "validator"',
        '[network]',
        `listen = ["/ip4/127.0.0.1/tcp/${p2pPort}"]`,
        'mdns = false',
        '[api]',
        `listen = "127.0.0.1:${apiPort}"`,
      ].join('\n'),
    )
    client = new NodeClient(`http://127.0.0.1:${apiPort}`)
  }, 60_000)

  afterAll(async () => {
    running?.child.kill('SIGKILL')
    await cleanup?.()
  })

  it('runs with the small young generation of src/cli/heap-tuning.ts, reported in /metrics', async () => {
    running = startNode(config)
    await waitForApi(client)
    const metrics = await (await fetch(`${client.baseUrl}/metrics`)).text()
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1])
    expect(gauge('fwmesh_process_resident_memory_bytes')).toBeGreaterThan(0)
    // Node 20's default lets it grow to 32 MiB while libp2p loads; the tuning keeps 1 MiB
    // semi-spaces (2 MiB in all).
    expect(gauge('fwmesh_young_generation_bytes')).toBeGreaterThan(0)
    expect(gauge('fwmesh_young_generation_bytes')).toBeLessThanOrEqual(4 * 1024 * 1024)
  }, 60_000)

  it('runs as one process under bin/fwmesh, with glibc malloc tuned by the launcher', async () => {
    // exec: the launcher's pid is the node's, so signals and /proc reach the node itself.
    const pid = running!.child.pid!
    expect(await readFile(`/proc/${pid}/cmdline`, 'utf8')).toContain('dist/fwmesh.mjs')
    const env = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0')
    expect(env).toContain('MALLOC_MMAP_THRESHOLD_=131072')
    expect(env).toContain('MALLOC_ARENA_MAX=2')
    const metrics = await (await fetch(`${client.baseUrl}/metrics`)).text()
    expect(metrics).toMatch(/^fwmesh_memory_collections_total \d+$/m)
  }, 60_000)

  it('settles once idle: two full GCs after MEMORY_IDLE_AFTER_MS, counted in /metrics', async () => {
    const collections = async () => {
      const metrics = await (await fetch(`${client.baseUrl}/metrics`)).text()
      return Number(/^fwmesh_memory_collections_total (\d+)$/m.exec(metrics)?.[1])
    }
    const before = await collections()
    const deadline = Date.now() + MEMORY_IDLE_AFTER_MS + 20_000
    let now = before
    while (now < before + MEMORY_SETTLE_COLLECTIONS && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500))
      now = await collections()
    }
    // Nothing else runs on this node: without settling, no garbage would reach the slack.
    expect(now, 'the idle node ran its settling collections').toBeGreaterThanOrEqual(
      before + MEMORY_SETTLE_COLLECTIONS,
    )
  }, 60_000)

  it('stops on SIGTERM with exit code 0 and keeps every committed block', async () => {
    const tx = signTx(
      {
        type: 'role.grant',
        chain: 'proc',
        signer: admin.publicKey,
        nonce: 1,
        subject: generateKeyPair().publicKey,
        role: 'approver',
      } as TxBody,
      admin,
    )
    const submitted = await client.submit(tx, 30_000)
    expect(submitted.status).toBe('committed')
    const height = ((await client.status()) as { head: { height: number } }).head.height
    expect(height).toBeGreaterThan(0)

    running!.child.kill('SIGTERM')
    const stopped = await running!.exited
    expect(stopped.code, stopped.stderr).toBe(0)
    expect(stopped.stderr).toMatch(/"msg":"stopped"/)

    running = startNode(config)
    await waitForApi(client)
    const after = ((await client.status()) as { head: { height: number } }).head.height
    expect(after).toBeGreaterThanOrEqual(height)
    running.child.kill('SIGTERM')
    expect((await running.exited).code).toBe(0)
    running = undefined
  }, 90_000)
})
