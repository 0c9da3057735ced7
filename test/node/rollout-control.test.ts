import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import type { Node } from '../../src/node/daemon.js'
import { type Cluster, eventually, eventuallyProgressing, startCluster } from '../helpers/cluster.js'
import { commitAll, deviceConfig, makeImage, publishTx } from '../helpers/release.js'

describe('node: pausing and resuming a rollout (real libp2p, loopback)', () => {
  let cluster: Cluster
  let device: Node
  beforeAll(async () => {
    cluster = await startCluster({ seed: 'rollout-control', validators: 1 })
    device = await cluster.addFollower({
      name: 'device',
      device: deviceConfig(join(cluster.dir, 'device', 'installed')),
    })
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it('a paused release does not start on the device; once resumed, the device installs it', {
    timeout: 120_000,
  }, async () => {
    const f = new TxFactory(cluster.chain)
    const origin = cluster.validators[0]!
    await commitAll(origin, [...f.bootstrap(), f.registerDevice(device.keys.publicKey, 'gw', 'rev-a')])
    const image = await makeImage(cluster.dir, 'fw-1.0.0.img', 512 * 1024, 'rollout-control')
    expect(await origin.transfer.addImage(image.path, image.cid.toString())).toMatchObject({ ok: true })
    const release = publishTx(f, image, '1.0.0')
    // Paused before its approval commits: there is no moment at which the device may start.
    await commitAll(origin, [
      release,
      f.control('release.pause', release.id, 'hold until the support desk is staffed'),
      f.approve(release.id, cluster.chain.approvers[0]!),
      f.approve(release.id, cluster.chain.approvers[1]!),
    ])
    const verdict = () => device.status().device?.releases.find((r) => r.release === release.idString)
    await eventually('the device sees the approved release as paused', () =>
      verdict()?.reason === 'paused' ? true : undefined,
    )
    // The device decided on this ledger: nothing was fetched and nothing is targeted.
    expect(device.transfer.downloads()).toEqual([])
    expect(device.status().device).toMatchObject({ phase: 'idle', target: null, installedVersion: '0.1.0' })

    await commitAll(origin, [f.control('release.resume', release.id, 'desk staffed')])
    const installed = () => origin.ledger.ledger.device(device.keys.publicKey)?.installed?.version === '1.0.0'
    await eventuallyProgressing(
      'the device installed the resumed release and its report committed',
      () => installed() || undefined,
      () => (device.transfer.downloads()[0]?.held ?? 0) + (installed() ? 1 : 0),
    )
  })
})
