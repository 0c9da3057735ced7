import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import type { Node } from '../../src/node/daemon.js'
import { writeKeyFile } from '../../src/node/store/key-files.js'
import { runCli } from '../helpers/cli.js'
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js'
import { commitAll, deviceConfig, makeImage, publishTx } from '../helpers/release.js'

/**
 * The freeze attack as real nodes see it: every validator stops, so no block (no signed time)
 * comes any more. Before, `fwmesh status` said "not live" and exited 0, and the agent kept
 * acting on the stale chain. Now, once the newest block is older than max_chain_age, status
 * exits 7, /metrics exports the chain's age, and a device that learns of an approved release
 * from that chain does not start downloading it.
 */
const HEARTBEAT_MS = 500
const MAX_CHAIN_AGE_MS = 2_000

describe('cli: status and the agent when every validator has stopped (freeze)', () => {
  let cluster: Cluster
  let follower: Node
  let device: Node
  beforeAll(async () => {
    cluster = await startCluster({
      seed: 'cli-freeze',
      params: { emptyBlockIntervalMs: HEARTBEAT_MS },
      maxChainAgeMs: MAX_CHAIN_AGE_MS,
    })
    follower = await cluster.addFollower({ name: 'follower' })
  }, 90_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  const status = (node: Node) => runCli(['--json', 'status', '--node', `http://127.0.0.1:${node.apiPort}`])

  it('exits 0 while the chain is live, then 7 once its newest block is older than max_chain_age', async () => {
    const f = new TxFactory(cluster.chain)
    const origin = cluster.validators[0]!
    const deviceKey = cluster.chain.key('freeze-device')
    const image = await makeImage(cluster.dir, 'fw.img', 100_000, 'cli-freeze')
    expect(await origin.transfer.addImage(image.path, image.cid.toString())).toMatchObject({ ok: true })
    const release = publishTx(f, image, '1.0.0')
    await commitAll(origin, [
      ...f.bootstrap(),
      f.registerDevice(deviceKey.publicKey, 'gw', 'rev-a'),
      release,
      f.approve(release.id, cluster.chain.approvers[0]!),
      f.approve(release.id, cluster.chain.approvers[1]!),
    ])
    await eventually('the follower has the approval', () =>
      follower.ledger.ledger.release(release.idString)?.approvedAt != null ? true : undefined,
    )
    const live = await status(follower)
    expect(live.code, live.stderr).toBe(0)
    expect(JSON.parse(live.stdout)).toMatchObject({ live: true, maxChainAgeSeconds: MAX_CHAIN_AGE_MS / 1000 })

    for (const v of cluster.validators) await v.stop()
    // Deadline by the chain's own age: wait until the follower's newest block is too old.
    await eventually(
      'the newest block is older than max_chain_age',
      () => (follower.ledger.chainAgeMs(Date.now()) > MAX_CHAIN_AGE_MS ? true : undefined),
      MAX_CHAIN_AGE_MS * 10,
    )
    const stale = await status(follower)
    expect(stale.code, stale.stderr).toBe(7)
    const body = JSON.parse(stale.stdout)
    expect(body.live).toBe(false)
    expect(body.chainAgeSeconds).toBeGreaterThan(MAX_CHAIN_AGE_MS / 1000)
    const human = await runCli(['status', '--node', `http://127.0.0.1:${follower.apiPort}`])
    expect(human.code).toBe(7)
    expect(human.stdout).toMatch(/not live: the newest block is \d+ s old, over max_chain_age 2 s/)
    expect(human.stderr).toMatch(/^fwmesh: the chain is not live: .*; no download or install starts\n$/)

    const metrics = await fetch(`http://127.0.0.1:${follower.apiPort}/metrics`).then((r) => r.text())
    const age = /^fwmesh_chain_age_seconds ([\d.]+)$/m.exec(metrics)
    expect(age, 'the chain age is exported').not.toBeNull()
    expect(Number(age![1])).toBeGreaterThan(MAX_CHAIN_AGE_MS / 1000)
    expect(metrics).toMatch(/^fwmesh_live 0$/m)

    // A device that joins now syncs the approved release from the follower, but starts no
    // download of it: the chain that approved it has stopped moving.
    const dataDir = join(cluster.dir, 'device')
    await mkdir(dataDir, { recursive: true })
    const written = await writeKeyFile(join(dataDir, 'node.key'), deviceKey)
    if (!written.ok) throw new Error(written.error.message)
    device = await cluster.addFollower({
      name: 'device',
      device: deviceConfig(join(cluster.dir, 'installed')),
    })
    await eventually("the device has the follower's head", () =>
      device.ledger.ledger.head.height === follower.ledger.ledger.head.height ? true : undefined,
    )
    const deviceStatus = device.status().device
    expect(deviceStatus).toMatchObject({ phase: 'idle', target: null, chainStale: true })
    expect(deviceStatus?.releases).toEqual([expect.objectContaining({ version: '1.0.0', eligible: true })])
    expect((await status(device)).code).toBe(7)
  }, 90_000)
})
