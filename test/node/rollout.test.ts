import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import type { Node } from '../../src/node/daemon.js'
import { type Cluster, eventually, eventuallyProgressing, startCluster } from '../helpers/cluster.js'
import { commitAll, deviceConfig, makeImage, publishTx } from '../helpers/release.js'

describe('node: a rollout over real libp2p (4 validators, 8 devices, loopback)', () => {
  let cluster: Cluster
  const devices: Node[] = []
  beforeAll(async () => {
    // The origin's uplink is limited, as a publisher's usually is: devices must serve each other.
    cluster = await startCluster({ seed: 'rollout', originUploadBytesPerSec: 2 * 1024 * 1024 })
    for (let i = 0; i < 8; i++) {
      const config = deviceConfig(join(cluster.dir, `device-${i}`, 'installed'))
      // Half the devices name their install folder relative: the hook runs in the node's data
      // directory, so each gets its own (all ran in this process's folder before).
      const relative = { ...config, installEnv: { FWMESH_INSTALL_DIR: 'installed' } }
      devices.push(
        await cluster.addFollower({ name: `device-${i}`, device: i % 2 === 0 ? relative : config }),
      )
    }
  }, 90_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  // The rollout's waits follow its progress (eventuallyProgressing); the test's own limit is a
  // backstop for a hang, wide enough for a machine at load 20.
  it('publishes, approves, and every device fetches from its neighbours, installs, and has its report committed', {
    timeout: 300_000,
  }, async () => {
    const f = new TxFactory(cluster.chain)
    const origin = cluster.validators[0]!
    await commitAll(origin, [
      ...f.bootstrap(),
      ...devices.map((d) => f.registerDevice(d.keys.publicKey, 'gw', 'rev-a')),
    ])
    // Twelve nodes on one IP address: every node still keeps a gossip mesh (see host.ts).
    await eventually(
      'every node has a block-gossip mesh',
      () => [...cluster.validators, ...devices].every((n) => n.gossip.stats().block.mesh > 0) || undefined,
    )
    const image = await makeImage(cluster.dir, 'fw-1.0.0.img', 3 * 1024 * 1024 + 12345, 'rollout-image')
    const seeded = await origin.transfer.addImage(image.path, image.cid.toString())
    expect(seeded).toMatchObject({ ok: true })
    const release = publishTx(f, image, '1.0.0')
    await commitAll(origin, [
      release,
      f.approve(release.id, cluster.chain.approvers[0]!),
      f.approve(release.id, cluster.chain.approvers[1]!),
    ])

    const installed = () =>
      devices.filter((d) => origin.ledger.ledger.device(d.keys.publicKey)?.installed?.version === '1.0.0')
        .length
    // Bytes fetched and installs committed: the wait lasts as long as either still grows.
    const progress = () =>
      installed() +
      devices.reduce(
        (sum, d) =>
          sum + Object.values(d.transfer.downloads()[0]?.bytesFrom ?? {}).reduce((a, b) => a + b, 0),
        0,
      )
    await eventuallyProgressing(
      'every device reported installed on the ledger',
      () => installed() === devices.length || undefined,
      progress,
    )
    const original = await readFile(image.path)
    for (const [i, d] of devices.entries()) {
      const installed = await readFile(join(cluster.dir, `device-${i}`, 'installed', 'firmware.img'))
      expect(Buffer.compare(installed, original), `device ${i} installed the exact image`).toBe(0)
      expect(d.status().device).toMatchObject({ installedVersion: '1.0.0', phase: 'idle' })
    }
    // The mesh carried most of it: devices fetched from each other, not only from the origin.
    const fromOrigin = devices
      .map((d) => d.transfer.downloads()[0]!.bytesFrom[origin.host.peerId.toString()] ?? 0)
      .reduce((a, b) => a + b, 0)
    const total = devices.reduce(
      (sum, d) => sum + Object.values(d.transfer.downloads()[0]!.bytesFrom).reduce((a, b) => a + b, 0),
      0,
    )
    expect(total).toBe(devices.length * image.manifest.imageSize)
    expect(fromOrigin, 'the origin sent less than half of all bytes').toBeLessThan(total / 2)
    // It super-seeds: each chunk goes out once while a neighbour holds it (seed-policy.ts).
    expect(fromOrigin / image.manifest.imageSize, 'image copies the origin sent').toBeLessThan(2)
    const reports = await origin.store.audit('release', release.idString)
    expect(
      reports.filter((r) => r.tx.body.type === 'install.report' && r.tx.body.status === 'confirmed'),
    ).toHaveLength(devices.length)
  })
})
