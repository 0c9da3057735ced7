import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/codec/bytes.js'
import { decodeCbor, encodeCbor } from '../../src/codec/cbor.js'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import type { Node } from '../../src/node/daemon.js'
import { dataLayout } from '../../src/node/layout.js'
import { runCli } from '../helpers/cli.js'
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js'
import { commitAll, deviceConfig, makeImage, publishTx } from '../helpers/release.js'

/**
 * `fwmesh ledger verify` on the data directories of real nodes after a rollout: ok on every
 * role (it exited 5 on clean nodes: it compared the stored and replayed state as JSON, whose
 * key order differs), a clear failure on a missing or empty directory (it said ok: it created
 * an empty ledger there), and exit 5 naming the record for a state record edited at rest,
 * which `fwmesh node` then refuses to start on (exit 5; it used to open and serve it).
 */
describe('cli: ledger verify on the data directories of stopped nodes', () => {
  let cluster: Cluster
  let device: Node
  let follower: Node
  let genesisPath: string
  const dirs: Record<string, string> = {}

  beforeAll(async () => {
    cluster = await startCluster({ seed: 'cli-ledger-verify' })
    genesisPath = join(cluster.dir, 'genesis.json')
    device = await cluster.addFollower({
      name: 'device',
      device: deviceConfig(join(cluster.dir, 'installed')),
    })
    follower = await cluster.addFollower({ name: 'follower' })
    const f = new TxFactory(cluster.chain)
    const origin = cluster.validators[0]!
    await commitAll(origin, [...f.bootstrap(), f.registerDevice(device.keys.publicKey, 'gw', 'rev-a')])
    const image = await makeImage(cluster.dir, 'fw.img', 200_000, 'cli-ledger-verify')
    expect(await origin.transfer.addImage(image.path, image.cid.toString())).toMatchObject({ ok: true })
    const release = publishTx(f, image, '1.0.0')
    await commitAll(origin, [
      release,
      f.approve(release.id, cluster.chain.approvers[0]!),
      f.approve(release.id, cluster.chain.approvers[1]!),
    ])
    // The device installs, and its report reaches every node's ledger.
    const all = [...cluster.validators, device, follower]
    await eventually(
      'every node has the device installed',
      () =>
        all.every((n) => n.ledger.ledger.device(device.keys.publicKey)?.installed?.version === '1.0.0') ||
        undefined,
      60_000,
    )
    const names = ['origin', 'validator-1', 'validator-2', 'validator-3', 'device', 'follower']
    for (const [i, node] of all.entries()) {
      dirs[names[i]!] = node.config.dataDir
      await node.stop()
    }
  }, 120_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  const verify = (dir: string) =>
    runCli(['--json', 'ledger', 'verify', '--data-dir', dir, '--genesis', genesisPath])

  for (const role of ['origin', 'validator-1', 'device', 'follower']) {
    it(`says ok, exit 0, for the clean data directory of the ${role}`, async () => {
      const r = await verify(dirs[role]!)
      expect(r.code, r.stderr || r.stdout).toBe(0)
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: true })
      expect(JSON.parse(r.stdout).height).toBeGreaterThanOrEqual(4)
    })
  }

  it('fails with exit 1 and a clear sentence for a directory that does not exist, or holds no ledger', async () => {
    const missing = join(cluster.dir, 'no-such-node')
    const a = await runCli(['ledger', 'verify', '--data-dir', missing, '--genesis', genesisPath])
    expect(a.code).toBe(1)
    expect(a.stderr.trim()).toBe(`fwmesh: no data directory at ${missing}`)
    const empty = join(cluster.dir, 'empty-node')
    await mkdir(empty)
    const b = await runCli(['ledger', 'verify', '--data-dir', empty, '--genesis', genesisPath])
    expect(b.code).toBe(1)
    expect(b.stderr).toMatch(/holds no ledger .*is it a node's data directory\?/)
    await mkdir(join(empty, 'ledger'))
    const c = await runCli(['ledger', 'verify', '--data-dir', empty, '--genesis', genesisPath])
    expect(c.code, 'an empty ledger folder').toBe(1)
    expect(c.stderr).toMatch(/holds no ledger/)
  })

  it("names the record and height, exit 5, when the device's own record was edited at rest; the node refuses to start on it", async () => {
    const dir = dirs.device!
    const key = toHex(device.keys.publicKey)
    const raw = new Level<string, Uint8Array>(dataLayout(dir).ledger, { valueEncoding: 'view' })
    const devices = raw.sublevel<string, Uint8Array>('state-devices', { valueEncoding: 'view' })
    const decoded = decodeCbor((await devices.get(key))!, 1 << 20)
    if (!decoded.ok) throw new Error(decoded.error.message)
    // Another hardware model: the device would take firmware built for other hardware.
    await devices.put(key, encodeCbor({ ...(decoded.value as object), hardware: 'rev-other' }))
    await raw.close()

    const r = await verify(dir)
    expect(r.code).toBe(5)
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({ exitCode: 5, record: `devices/${key}` })
    expect(out.error).toMatch(
      new RegExp(
        `^the ledger is corrupt at height ${out.height}: state record devices/${key} differs from the state committed at height ${out.height};`,
      ),
    )

    const config = join(cluster.dir, 'device.toml')
    await writeFile(
      config,
      [
        `data_dir = "${dir}"`,
        `genesis = "${genesisPath}"`,
        '[network]',
        'listen = ["/ip4/127.0.0.1/tcp/0"]',
        'mdns = false',
        '[api]',
        'listen = "127.0.0.1:0"',
        '',
      ].join('\n'),
    )
    const started = await runCli(['node', '-c', config])
    expect(started.code, started.stderr).toBe(5)
    expect(started.stderr).toContain(`state record devices/${key} differs from the state committed at height`)
  })
})
