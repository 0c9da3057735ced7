import { access, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js'
import { commitAll, deviceConfig, makeImage, publishTx } from '../helpers/release.js'

const MiB = 1024 * 1024

describe('node: free disk space before a download (real libp2p on loopback)', () => {
  let cluster: Cluster | undefined
  afterEach(async () => {
    await cluster?.stop()
    cluster = undefined
  })

  it('a device stores one image: the hook links it, and the next release deletes the one before', async () => {
    cluster = await startCluster({ seed: 'disk-space-one' })
    const installDir = join(cluster.dir, 'installed-0')
    const device = await cluster.addFollower({ name: 'device-0', device: deviceConfig(installDir) })
    const f = new TxFactory(cluster.chain)
    const origin = cluster.validators[0]!
    await commitAll(origin, [...f.bootstrap(), f.registerDevice(device.keys.publicKey, 'gw', 'rev-a')])
    const images = join(device.config.dataDir, 'images')
    for (const version of ['1.0.0', '1.1.0']) {
      const image = await makeImage(cluster.dir, `fw-${version}.img`, 2 * MiB, `image-${version}`)
      expect(await origin.transfer.addImage(image.path, image.cid.toString())).toMatchObject({ ok: true })
      const tx = publishTx(f, image, version)
      await commitAll(origin, [
        tx,
        f.approve(tx.id, cluster.chain.approvers[0]!),
        f.approve(tx.id, cluster.chain.approvers[1]!),
      ])
      await eventually(
        `the device installed ${version}`,
        () => device.status().device?.installedVersion === version || undefined,
        30_000,
      )
      const held = (await readdir(images)).filter((name) => name.endsWith('.img'))
      expect(held, `after ${version} the device holds its image only`).toEqual([
        `${image.cid.toString()}.img`,
      ])
      const installed = await stat(join(installDir, 'firmware.img'))
      expect(installed.ino, 'the installed firmware is the same file').toBe(
        (await stat(join(images, held[0]!))).ino,
      )
    }
  })

  it('a device whose disk has no room for the image does not download it and reports failed with what it needs and has', async () => {
    cluster = await startCluster({ seed: 'disk-space-low' })
    const asked: string[] = []
    const device = await cluster.addFollower({
      name: 'device-0',
      device: deviceConfig(join(cluster.dir, 'installed-0')),
      // The measurement is node:fs statfs; here a disk with 1 MiB free stands in for a full one.
      freeSpace: async (dir) => {
        asked.push(dir)
        return MiB
      },
    })
    const f = new TxFactory(cluster.chain)
    const origin = cluster.validators[0]!
    await commitAll(origin, [...f.bootstrap(), f.registerDevice(device.keys.publicKey, 'gw', 'rev-a')])
    const image = await makeImage(cluster.dir, 'fw-1.0.0.img', 3 * MiB, 'image-1.0.0')
    expect(await origin.transfer.addImage(image.path, image.cid.toString())).toMatchObject({ ok: true })
    const tx = publishTx(f, image, '1.0.0')
    await commitAll(origin, [
      tx,
      f.approve(tx.id, cluster.chain.approvers[0]!),
      f.approve(tx.id, cluster.chain.approvers[1]!),
    ])
    const detail = 'insufficient space (need 67.0 MiB, have 1.0 MiB)'
    const report = await eventually(
      'the failed report is on the ledger',
      async () =>
        (await origin.rollout(tx.idString))?.devices.find((d) => d.state === 'failed' && d.detail === detail),
      30_000,
    )
    expect(report).toBeDefined()
    // Measured where the images live, and nothing of the image was written.
    expect(asked[0]).toBe(join(device.config.dataDir, 'images'))
    expect(device.transfer.downloads()).toEqual([])
    await expect(access(device.transfer.imagePath(image.cid.toString()))).rejects.toThrow()
    expect(device.status().device).toMatchObject({
      phase: 'downloading',
      lastError: detail,
      downloadAttempts: 1,
    })
  })
})
