import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { primaryOf } from '../../src/consensus/view-change.js'
import { BAD_CHUNK_STRIKES_MAX } from '../../src/constants.js'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import type { Node } from '../../src/node/daemon.js'
import { dataLayout } from '../../src/node/layout.js'
import { BadPeer } from '../helpers/bad-peer.js'
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js'
import { commitAll, deviceConfig, makeImage, publishTx } from '../helpers/release.js'

const MiB = 1024 * 1024

/** Starts a cluster with `n` devices, all registered, roles granted. */
async function fleet(seed: string, n: number, originUploadBytesPerSec: number, originIndex = 0) {
  const cluster = await startCluster({ seed, originUploadBytesPerSec })
  const devices: Node[] = []
  for (let i = 0; i < n; i++)
    devices.push(
      await cluster.addFollower({
        name: `device-${i}`,
        device: deviceConfig(join(cluster.dir, `installed-${i}`)),
      }),
    )
  const f = new TxFactory(cluster.chain)
  const origin = cluster.validators[originIndex]!
  await commitAll(origin, [
    ...f.bootstrap(),
    ...devices.map((d) => f.registerDevice(d.keys.publicKey, 'gw', 'rev-a')),
  ])
  return { cluster, devices, f, origin }
}

async function release(ctx: Awaited<ReturnType<typeof fleet>>, bytes: number, version: string) {
  const image = await makeImage(ctx.cluster.dir, `fw-${version}.img`, bytes, `image-${version}`)
  expect(await ctx.origin.transfer.addImage(image.path, image.cid.toString())).toMatchObject({ ok: true })
  const tx = publishTx(ctx.f, image, version)
  await commitAll(ctx.origin, [
    tx,
    ctx.f.approve(tx.id, ctx.cluster.chain.approvers[0]!),
    ctx.f.approve(tx.id, ctx.cluster.chain.approvers[1]!),
  ])
  return { image, tx }
}

function installedEverywhere(nodes: readonly Node[], devices: readonly Node[], version: string) {
  return () =>
    nodes.every((n) =>
      devices.every((d) => n.ledger.ledger.device(d.keys.publicKey)?.installed?.version === version),
    ) || undefined
}

describe('node: rollouts under faults (real libp2p on loopback)', () => {
  let cluster: Cluster | undefined
  let bad: BadPeer | undefined
  afterEach(async () => {
    await bad?.stop()
    await cluster?.stop()
    bad = undefined
    cluster = undefined
  })

  it('a neighbour serving corrupted chunks is banned, nothing it sent is kept, and every honest device installs', async () => {
    const ctx = await fleet('faults-corrupt', 4, 1 * MiB)
    cluster = ctx.cluster
    const bytes = 3 * MiB
    bad = await BadPeer.start(ctx.cluster.chain.genesis.chainId, { imageSize: bytes, chunkSize: 256 * 1024 })
    for (const d of ctx.devices) await bad.host.dial(d.host.getMultiaddrs()[0]!)
    const { image } = await release(ctx, bytes, '1.0.0')
    await eventually(
      'every device reported installed',
      installedEverywhere([ctx.origin], ctx.devices, '1.0.0'),
      60_000,
    )
    const original = await readFile(image.path)
    const badId = bad.host.peerId.toString()
    for (const [i, d] of ctx.devices.entries()) {
      expect(
        Buffer.compare(await readFile(join(ctx.cluster.dir, `installed-${i}`, 'firmware.img')), original),
        `device ${i} has the exact image`,
      ).toBe(0)
      const download = d.transfer.downloads()[0]!
      expect(download.bytesFrom[badId], `device ${i} kept nothing from the bad peer`).toBeUndefined()
      const asked = bad.requests.get(d.host.peerId.toString()) ?? 0
      if (asked >= BAD_CHUNK_STRIKES_MAX)
        expect(download.banned[badId], `device ${i} (asked it ${asked} times) banned it`).toBe('bad-chunks')
    }
    expect(
      [...bad.requests.values()].some((n) => n >= BAD_CHUNK_STRIKES_MAX),
      'the bad peer was asked, and so put to the test',
    ).toBe(true)
  })

  it('a device restarted mid-download resumes without fetching its verified chunks again', async () => {
    const ctx = await fleet('faults-restart', 1, 512 * 1024)
    cluster = ctx.cluster
    const { image } = await release(ctx, 4 * MiB, '1.0.0')
    const device = ctx.devices[0]!
    await eventually(
      'a quarter of the image is held',
      () => (device.transfer.downloads()[0]?.held ?? 0) >= 4 || undefined,
      30_000,
    )
    const restarted = await ctx.cluster.restart(device)
    await eventually(
      'the restarted device reported installed',
      installedEverywhere([ctx.origin], [restarted], '1.0.0'),
      60_000,
    )
    const download = restarted.transfer.downloads()[0]!
    const chunk = image.manifest.chunkSize
    expect(download.heldAtStart, 'the restart kept the verified chunks').toBeGreaterThanOrEqual(4)
    const fetchedAfter = Object.values(download.bytesFrom).reduce((a, b) => a + b, 0)
    expect(fetchedAfter, 'after the restart only the missing chunks were fetched').toBe(
      image.manifest.imageSize - download.heldAtStart! * chunk,
    )
    expect(
      Buffer.compare(
        await readFile(join(ctx.cluster.dir, 'installed-0', 'firmware.img')),
        await readFile(image.path),
      ),
    ).toBe(0)
  })

  it('a device that cannot store the image keeps running, and its status says why', async () => {
    const ctx = await fleet('faults-store', 1, 4 * MiB)
    cluster = ctx.cluster
    const device = ctx.devices[0]!
    const image = await makeImage(ctx.cluster.dir, 'fw-store.img', 1 * MiB, 'image-store')
    // A directory where the device will write the image: opening the image store throws.
    await mkdir(join(dataLayout(device.config.dataDir).images, `${image.cid.toString()}.img`), {
      recursive: true,
    })
    expect(await ctx.origin.transfer.addImage(image.path, image.cid.toString())).toMatchObject({ ok: true })
    const tx = publishTx(ctx.f, image, '1.0.0')
    await commitAll(ctx.origin, [
      tx,
      ctx.f.approve(tx.id, ctx.cluster.chain.approvers[0]!),
      ctx.f.approve(tx.id, ctx.cluster.chain.approvers[1]!),
    ])
    const status = await eventually(
      'the failed attempt in the device status',
      () => {
        const s = device.agent!.status()
        return s.downloadAttempts > 0 ? s : undefined
      },
      30_000,
    )
    expect(status.lastError).toMatch(/download failed/)
    expect(status.target?.version).toBe('1.0.0')
    expect(status.installedVersion).not.toBe('1.0.0')
  })

  it('the primary validator is killed mid-rollout, and the rollout still completes', async () => {
    // The image comes from validator 3, the primary only from view 3 on, so killing the primary
    // of the current view (view 0, or 1 or 2 when a loaded machine already changed view) takes
    // away consensus leadership, not the only source of the image.
    const ctx = await fleet('faults-primary', 4, 1 * MiB, 3)
    cluster = ctx.cluster
    await release(ctx, 3 * MiB, '1.0.0')
    await eventually(
      'downloads under way',
      () => ctx.devices.some((d) => (d.transfer.downloads()[0]?.held ?? 0) > 0) || undefined,
      30_000,
    )
    const view = ctx.cluster.validators[0]!.ledger.view ?? 0
    const primary = ctx.cluster.validators[primaryOf(view, ctx.cluster.validators.length)]!
    expect(primary, 'the primary is not the origin').not.toBe(ctx.origin)
    await primary.stop()
    const survivors = ctx.cluster.validators.filter((v) => v !== primary)
    await eventually(
      'every report committed on the surviving validators',
      installedEverywhere(survivors, ctx.devices, '1.0.0'),
      90_000,
    )
    expect(
      survivors.every((v) => (v.ledger.view ?? 0) > view),
      'the survivors changed view',
    ).toBe(true)
  }, 120_000)
})
