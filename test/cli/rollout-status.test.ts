import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RolloutView } from '../../src/agent/rollout-view.js'
import { toHex } from '../../src/codec/bytes.js'
import { didFromPublicKey } from '../../src/crypto/did.js'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import type { SignedTx } from '../../src/ledger/tx.js'
import type { Node } from '../../src/node/daemon.js'
import { runCli } from '../helpers/cli.js'
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js'
import { commitAll, deviceConfig, makeImage } from '../helpers/release.js'

/**
 * Rollout visibility (issue 20 part 6) on real libp2p nodes on loopback: three devices, one
 * for other hardware and one whose install hook fails. The validators' rollout view counts the
 * two eligible devices only, names the ineligible one's reason, the failure's detail, and the
 * progress the devices gossiped; `fwmesh rollout status --watch` and `release rollout --wait`
 * (the built binary) exit 9 when a device failed, 0 when all installed, 6 on a timeout.
 */
describe('cli: rollout status against a real fleet', () => {
  let cluster: Cluster
  let origin: Node
  let f: TxFactory
  let devices: Node[]
  let node: string
  let first: SignedTx

  const hook = (dir: string, fails: boolean) => {
    const config = deviceConfig(dir)
    return fails
      ? { ...config, installCommand: ['/bin/sh', '-c', 'echo "flash write failed" >&2; exit 3'] }
      : config
  }

  async function release(version: string, hardware: string[], rollout?: { start: number; afterMs: number }) {
    const image = await makeImage(cluster.dir, `fw-${version}.img`, 256 * 1024, `image-${version}`)
    expect(await origin.transfer.addImage(image.path, image.cid.toString())).toMatchObject({ ok: true })
    const tx = f.publish({
      product: 'gw',
      version,
      hardware,
      imageSize: image.manifest.imageSize,
      imageSha256: image.manifest.imageSha256,
      chunkHashesSha256: image.manifest.chunkHashesSha256,
      manifest: image.cid,
      chunkSize: image.manifest.chunkSize,
      ...(rollout
        ? { rollout: { start: rollout.start, waves: [{ percent: 100, afterMs: rollout.afterMs }] } }
        : {}),
    })
    await commitAll(origin, [
      tx,
      f.approve(tx.id, cluster.chain.approvers[0]!),
      f.approve(tx.id, cluster.chain.approvers[1]!),
    ])
    return tx
  }

  beforeAll(async () => {
    cluster = await startCluster({ seed: 'cli-rollout-status' })
    origin = cluster.validators[0]!
    node = `http://127.0.0.1:${origin.apiPort}`
    f = new TxFactory(cluster.chain)
    devices = [
      await cluster.addFollower({
        name: 'device-ok',
        device: hook(join(cluster.dir, 'installed-ok'), false),
      }),
      await cluster.addFollower({
        name: 'device-rev-b',
        device: { ...deviceConfig(join(cluster.dir, 'installed-b')), hardware: 'rev-b' },
      }),
      await cluster.addFollower({
        name: 'device-fails',
        device: hook(join(cluster.dir, 'installed-f'), true),
      }),
    ]
    await commitAll(origin, [
      ...f.bootstrap(),
      f.registerDevice(devices[0]!.keys.publicKey, 'gw', 'rev-a'),
      f.registerDevice(devices[1]!.keys.publicKey, 'gw', 'rev-b'),
      f.registerDevice(devices[2]!.keys.publicKey, 'gw', 'rev-a'),
    ])
    first = await release('1.0.0', ['rev-a'])
  }, 120_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it('a validator shows the eligible devices installed and failed, and the one for other hardware as ineligible', async () => {
    const view = await eventually(
      'both eligible devices reported on the ledger',
      async () => {
        const v = await origin.rollout(first.idString)
        // Done by the ledger's word: a failure the device gossiped shows before its report commits.
        return v?.done && v.devices.every((d) => d.source !== 'gossip') ? v : undefined
      },
      90_000,
    )
    const by = (d: Node) => view.devices.find((x) => x.did === didFromPublicKey(d.keys.publicKey))!
    expect(view).toMatchObject({ eligible: 2, ineligible: 1, done: true, installable: true })
    expect(view.counts).toMatchObject({ confirmed: 1, failed: 1, pending: 0 })
    expect(by(devices[0]!)).toMatchObject({ state: 'confirmed', source: 'ledger', wave: 0 })
    expect(by(devices[1]!)).toMatchObject({ state: 'ineligible', reason: 'other-hardware', eligible: false })
    expect(by(devices[2]!)).toMatchObject({ state: 'failed', source: 'ledger' })
    expect(by(devices[2]!).detail).toMatch(/flash write failed/)
    expect(view.waves).toEqual([expect.objectContaining({ index: 0, percent: 100, open: true, devices: 2 })])

    // The devices' own word reached the validator over gossip, signed and kept per device.
    const heard = (d: Node) => origin.progress.table.get(first.idString, toHex(d.keys.publicKey))
    await eventually('the devices gossiped how they ended', () =>
      heard(devices[0]!)?.state === 'confirmed' && heard(devices[2]!)?.state === 'failed' ? true : undefined,
    )
    expect(heard(devices[2]!)?.reason).toMatch(/flash write failed/)
    expect(heard(devices[1]!), 'the rev-b device never worked on it').toBeUndefined()
    expect(origin.gossip.counts.progress.accepted).toBeGreaterThan(0)
    expect(origin.gossip.counts.progress.rejected).toBe(0)
  })

  it('/metrics gives the rollout per state, the chain age, the peers and image bytes by source', async () => {
    const metrics = await origin.metrics()
    const gauge = (state: string) =>
      Number(
        new RegExp(
          `^fwmesh_rollout_devices\\{release="${first.idString}",state="${state}"\\} (\\d+)$`,
          'm',
        ).exec(metrics)?.[1],
      )
    expect(gauge('confirmed')).toBe(1)
    expect(gauge('failed')).toBe(1)
    expect(gauge('pending')).toBe(0)
    expect(metrics).toMatch(/^fwmesh_chain_age_seconds [\d.e-]+$/m)
    expect(metrics).toMatch(/^fwmesh_peers [1-9]\d*$/m)
    const bytes = (direction: string, source: string) =>
      Number(
        new RegExp(
          `^fwmesh_image_bytes_total\\{direction="${direction}",source="${source}"\\} (\\d+)$`,
          'm',
        ).exec(metrics)?.[1],
      )
    expect(bytes('up', 'origin'), 'the origin served the image').toBeGreaterThan(0)
    const device = await devices[0]!.metrics()
    expect(
      Number(/^fwmesh_image_bytes_total\{direction="down",source="peer"\} (\d+)$/m.exec(device)?.[1]),
    ).toBeGreaterThanOrEqual(256 * 1024)
  })

  it('rollout status prints the waves and devices; --watch exits 9 when a device failed', async () => {
    const shown = await runCli(['rollout', 'status', first.idString, '--node', node])
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.stdout).toContain('2 eligible devices: 1 confirmed, 1 failed; 1 ineligible')
    expect(shown.stdout).toMatch(/wave 0: 100 % open since .*: 2 devices, 1 confirmed, 1 failed/)
    expect(shown.stdout).toMatch(/ineligible\s+other-hardware/)
    expect(shown.stdout).toMatch(/failed\s+.*flash write failed/)

    const watched = await runCli(['--json', 'rollout', 'status', first.idString, '--watch', '--node', node])
    expect(watched.code, watched.stderr).toBe(9)
    const view = JSON.parse(watched.stdout) as RolloutView
    expect(view).toMatchObject({ done: true, eligible: 2, counts: { confirmed: 1, failed: 1 } })

    const waited = await runCli(['release', 'rollout', first.idString, '--wait', '30', '--node', node])
    expect(waited.code, waited.stderr).toBe(9)
    expect(waited.stdout).toContain('1 of 2 eligible devices confirmed, 1 failed (1 not eligible)')
    expect(waited.stderr).toMatch(/1 of 2 eligible devices did not confirm/)
  })

  it('--watch exits 0 once every eligible device installed, and 6 when its timeout runs out first', async () => {
    const forB = await release('1.1.0', ['rev-b'])
    const watched = await runCli(
      ['rollout', 'status', forB.idString, '--watch', '--timeout', '90', '--node', node],
      {
        timeoutMs: 120_000,
      },
    )
    expect(watched.code, watched.stderr).toBe(0)
    expect(watched.stdout).toContain('1 eligible device: 1 confirmed; 2 ineligible')
    const waited = await runCli([
      '--json',
      'release',
      'rollout',
      forB.idString,
      '--wait',
      '30',
      '--node',
      node,
    ])
    expect(waited.code, waited.stderr).toBe(0)
    expect(JSON.parse(waited.stdout)).toMatchObject({ devices: 1, confirmed: 1, failed: 0, ineligible: 2 })

    // A wave an hour away: the rev-b device is pending on it, and the watch gives up.
    const later = await release('1.2.0', ['rev-b'], { start: Date.now(), afterMs: 3_600_000 })
    const view = await origin.rollout(later.idString)
    expect(view?.devices.find((d) => d.state !== 'ineligible')).toMatchObject({
      state: 'pending',
      reason: 'wave-closed',
    })
    const timedOut = await runCli([
      'rollout',
      'status',
      later.idString,
      '--watch',
      '--timeout',
      '1',
      '--node',
      node,
    ])
    expect(timedOut.code, timedOut.stderr).toBe(6)
    expect(timedOut.stderr).toMatch(/did not finish within 1 s: 1 pending/)
  })
})
