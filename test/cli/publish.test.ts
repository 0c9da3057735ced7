import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import { Node } from '../../src/node/daemon.js'
import { makeLogger } from '../../src/node/log.js'
import { writeKeyFile } from '../../src/node/store/key-files.js'
import { Prng } from '../../src/prng.js'
import { runCli } from '../helpers/cli.js'
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js'
import { commitAll, deviceConfig } from '../helpers/release.js'

/**
 * `fwmesh release publish` as an operator runs it, against a node on 127.0.0.1: the image
 * streams to the node, and `--chunk-size` works end to end or is refused before any work.
 */
describe('cli: fwmesh release publish', () => {
  let cluster: Cluster
  let device: Node
  let api: string
  let publisherKey: string
  const approverKeys: string[] = []

  beforeAll(async () => {
    cluster = await startCluster({ seed: 'cli-publish' })
    device = await cluster.addFollower({
      name: 'device',
      device: deviceConfig(join(cluster.dir, 'installed')),
    })
    const f = new TxFactory(cluster.chain)
    const v0 = cluster.validators[0]!
    await commitAll(v0, [...f.bootstrap(), f.registerDevice(device.keys.publicKey, 'gw', 'rev-a')])
    api = `http://127.0.0.1:${v0.apiPort}`
    publisherKey = join(cluster.dir, 'publisher.key')
    await writeKeyFile(publisherKey, cluster.chain.publisher)
    for (const [i, approver] of cluster.chain.approvers.entries()) {
      approverKeys.push(join(cluster.dir, `approver-${i}.key`))
      await writeKeyFile(approverKeys[i]!, approver)
    }
  }, 120_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  const publishArgs = (image: string, version: string, extra: string[] = []) => [
    '--json',
    'release',
    'publish',
    image,
    '--product',
    'gw',
    '--version',
    version,
    '--hardware',
    'rev-a',
    '--key',
    publisherKey,
    '--wait',
    '20',
    ...extra,
  ]

  it('publishes at a chunk size other than the default, and a device fetches, verifies and installs it', async () => {
    const image = join(cluster.dir, 'fw-64k.img')
    // 1 MiB + 1000 bytes: 17 chunks of 64 KiB, the last one short.
    await writeFile(image, Prng.fromSeed('cli-publish-64k').bytes(1024 * 1024 + 1000))
    const published = await runCli(publishArgs(image, '1.0.0', ['--node', api, '--chunk-size', '65536']))
    expect(published.code, published.stderr).toBe(0)
    const { release } = JSON.parse(published.stdout) as { release: string }
    const record = JSON.parse((await runCli(['--json', 'release', 'show', release, '--node', api])).stdout)
    expect(record).toMatchObject({ version: '1.0.0', chunkSize: 65536, imageSize: 1024 * 1024 + 1000 })
    for (const key of approverKeys) {
      const approved = await runCli(['release', 'approve', release, '--key', key, '--node', api])
      expect(approved.code, approved.stderr).toBe(0)
    }
    // For people: what it is, its state and who approved it, in words (not the JSON).
    const shown = await runCli(['release', 'show', release, '--node', api])
    expect(shown.stdout).toMatch(/^gw 1\.0\.0 \(stable\) for rev-a\n/)
    expect(shown.stdout).toMatch(/^state: installable since height \d+$/m)
    expect(shown.stdout).toMatch(/in chunks of 65536;/)
    expect(shown.stdout.match(/^approved by did:key:z6Mk\w{12}… at height \d+$/gm)).toHaveLength(
      approverKeys.length,
    )
    await eventually(
      'the device installed 1.0.0',
      () => device.status().device?.installedVersion === '1.0.0' || undefined,
      60_000,
    )
    const installed = await readFile(join(cluster.dir, 'installed', 'firmware.img'))
    expect(Buffer.compare(installed, await readFile(image)), 'the device installed the exact image').toBe(0)
    expect(device.transfer.downloads()[0]).toMatchObject({ chunks: 17 })
  })

  it('refuses a chunk size no manifest can have, before any work, saying so', async () => {
    const image = join(cluster.dir, 'fw-bad-chunks.img')
    await writeFile(image, Prng.fromSeed('cli-publish-bad').bytes(100_000))
    // Port 9 (discard) has no node: an exit code 1 (not 3) shows nothing was asked of one.
    for (const size of ['1000', '8388608', '64k', '-1']) {
      const args = publishArgs(image, '9.0.0', ['--node', 'http://127.0.0.1:9', `--chunk-size=${size}`])
      // Without --json the error is one line on stderr.
      const r = await runCli(args.slice(1))
      expect(r.code, `--chunk-size ${size}: ${r.stderr}`).toBe(1)
      expect(r.stderr.trim(), `--chunk-size ${size}`).toMatch(
        /^fwmesh: --chunk-size ".*" must be a whole number of bytes from 16384 to 4194304 \(default 262144\)$/,
      )
    }
  })

  it('talks to a node whose API needs a token, with FWMESH_API_TOKEN or FWMESH_API_TOKEN_FILE', async () => {
    const dir = join(cluster.dir, 'token-node')
    const tokenFile = join(cluster.dir, 'api-token')
    const token = 'cli-publish-test-token-0123456789'
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 })
    const base = cluster.followers[0]!.config
    const node = await Node.start(
      {
        ...base,
        dataDir: dir,
        keyPath: join(dir, 'node.key'),
        device: null,
        api: { ...base.api, port: 0, tokenFile },
      },
      { log: makeLogger('silent') },
    )
    try {
      const url = `http://127.0.0.1:${node.apiPort}`
      const without = await runCli(['status', '--node', url])
      expect(without.code).toBe(1)
      expect(without.stderr).toMatch(/needs its API token: set FWMESH_API_TOKEN/)
      const envs: Array<Record<string, string>> = [
        { FWMESH_API_TOKEN: token },
        { FWMESH_API_TOKEN_FILE: tokenFile },
      ]
      for (const env of envs) {
        const r = await runCli(['--json', 'status', '--node', url], { env })
        expect(r.code, `${JSON.stringify(env)}: ${r.stderr}`).toBe(0)
        expect(JSON.parse(r.stdout)).toMatchObject({ role: 'follower' })
      }
    } finally {
      await node.stop()
    }
    // A token too short to be a secret stops the start, naming the field.
    const weak = join(cluster.dir, 'weak-token')
    await writeFile(weak, 'secret\n')
    const start = Node.start(
      {
        ...base,
        dataDir: `${dir}-weak`,
        keyPath: join(`${dir}-weak`, 'node.key'),
        device: null,
        api: { ...base.api, port: 0, tokenFile: weak },
      },
      { log: makeLogger('silent') },
    )
    await expect(start).rejects.toThrow(/^api\.token_file: .* must hold one token of 16 to 1024 characters/)
  })
})
