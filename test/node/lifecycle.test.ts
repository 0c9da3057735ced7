import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import type { SignedTx } from '../../src/ledger/tx.js'
import type { Node } from '../../src/node/daemon.js'
import { type Cluster, eventuallyProgressing, startCluster } from '../helpers/cluster.js'
import { commitAll, deviceConfig, makeImage, publishTx } from '../helpers/release.js'

const ROOT = join(import.meta.dirname, '..', '..')

/**
 * The update lifecycle with real processes (docs/lifecycle.md): a device whose install hook
 * writes the image for the next boot (script.sh into an "inactive slot"), whose running
 * version is what its "bootloader" booted (a file the test sets, as an A/B system's rootfs
 * would carry it), and whose boots are told apart by a boot id file. The node runs the real
 * confirm hook (`script.sh confirm VERSION`) after the install and after each restart.
 */
describe('node: the update lifecycle on the ledger (real libp2p, loopback, script.sh confirm)', () => {
  let cluster: Cluster
  let device: Node
  let origin: Node
  let f: TxFactory
  const paths = { running: '', bootId: '' }

  beforeAll(async () => {
    cluster = await startCluster({ seed: 'lifecycle', validators: 1 })
    const slot = join(cluster.dir, 'device', 'slot-b')
    paths.running = join(cluster.dir, 'device', 'running-version')
    paths.bootId = join(cluster.dir, 'device', 'boot-id')
    await mkdir(join(cluster.dir, 'device'), { recursive: true })
    await writeFile(paths.running, '0.1.0\n')
    await writeFile(paths.bootId, 'boot-1\n')
    device = await cluster.addFollower({
      name: 'device',
      device: {
        ...deviceConfig(slot),
        versionFile: paths.running,
        bootIdFile: paths.bootId,
        confirmCommand: [join(ROOT, 'examples/hooks/script.sh'), 'confirm'],
        installEnv: { FWMESH_INSTALL_DIR: slot, FWMESH_RUNNING_VERSION_FILE: paths.running },
      },
    })
    origin = cluster.validators[0]!
    f = new TxFactory(cluster.chain)
    await commitAll(origin, [...f.bootstrap(), f.registerDevice(device.keys.publicKey, 'gw', 'rev-a')])
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  async function approved(version: string): Promise<SignedTx> {
    const image = await makeImage(cluster.dir, `fw-${version}.img`, 256 * 1024, `lifecycle-${version}`)
    expect(await origin.transfer.addImage(image.path, image.cid.toString())).toMatchObject({ ok: true })
    const release = publishTx(f, image, version)
    await commitAll(origin, [
      release,
      f.approve(release.id, cluster.chain.approvers[0]!),
      f.approve(release.id, cluster.chain.approvers[1]!),
    ])
    return release
  }

  /**
   * Waits until the validator's rollout view shows the device in `state` and the device has
   * seen its own report commit (it is past `reporting`). Progress: chunks held, and each phase
   * of the device's agent seen for the first time.
   */
  async function deviceState(release: SignedTx, state: string) {
    const phases = new Set<string>()
    const phase = () => device.status().device?.phase ?? 'none'
    try {
      return await eventuallyProgressing(
        `the device ${state} on the ledger`,
        async () => {
          phases.add(phase())
          const d = (await origin.rollout(release.idString))?.devices[0]
          const settled = phase() !== 'reporting' && phase() !== 'confirming'
          return d?.state === state && d.source === 'ledger' && settled ? d : undefined
        },
        () => (device.transfer.downloads()[0]?.held ?? 0) + phases.size,
      )
    } catch (cause) {
      const seen = (await origin.rollout(release.idString))?.devices[0]
      throw new Error(
        `${(cause as Error).message}; device status ${JSON.stringify(device.status().device)}; rollout ${JSON.stringify(seen)}`,
      )
    }
  }

  async function reboot(bootId: string, running: string): Promise<void> {
    await writeFile(paths.bootId, `${bootId}\n`)
    await writeFile(paths.running, `${running}\n`)
    device = await cluster.restart(device)
  }

  const onLedger = () => origin.ledger.ledger.device(device.keys.publicKey)?.installed ?? null

  it('an image written for the next boot is pending a reboot; after the reboot into it, it is confirmed', {
    timeout: 120_000,
  }, async () => {
    const release = await approved('1.0.0')
    const pending = await deviceState(release, 'pending-reboot')
    expect(pending.detail).toMatch(/^1\.0\.0 is written; 0\.1\.0 runs until a reboot/)
    expect(device.status().device).toMatchObject({ phase: 'pending-reboot', installedVersion: '0.1.0' })
    expect(onLedger(), 'the ledger keeps what runs').toBeNull()

    // A restart of the node alone (the same boot) changes nothing.
    device = await cluster.restart(device)
    expect(device.status().device).toMatchObject({ phase: 'pending-reboot' })

    await reboot('boot-2', '1.0.0')
    await deviceState(release, 'confirmed')
    expect(onLedger()).toMatchObject({ release: release.idString, version: '1.0.0' })
    expect(device.status().device).toMatchObject({ phase: 'idle', installedVersion: '1.0.0' })
  })

  it('a reboot that comes back on the old version is a rollback, reported with the version that runs', {
    timeout: 120_000,
  }, async () => {
    const release = await approved('1.1.0')
    await deviceState(release, 'pending-reboot')
    // The bootloader fell back to the old slot.
    await reboot('boot-3', '1.0.0')
    const rolledBack = await deviceState(release, 'rolled-back')
    expect(rolledBack.detail).toMatch(/^rolled back: 1\.0\.0 runs after a reboot/)
    expect(onLedger(), 'the ledger still says 1.0.0 runs').toMatchObject({ version: '1.0.0' })
    expect(origin.ledger.ledger.release(release.idString)?.failures).toBe(1)
    const rollout = await origin.rollout(release.idString)
    expect(rollout).toMatchObject({ done: true, counts: { 'rolled-back': 1 } })
    // Given up: another restart does not install it again, and the status says so.
    device = await cluster.restart(device)
    expect(device.status().device).toMatchObject({ phase: 'idle', installedVersion: '1.0.0' })
    const verdict = device.status().device?.releases.find((r) => r.release === release.idString)
    expect(verdict).toMatchObject({ eligible: false, reason: 'given-up' })
  })
})
