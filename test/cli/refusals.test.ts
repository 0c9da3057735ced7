import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import type { Node } from '../../src/node/daemon.js'
import { writeKeyFile } from '../../src/node/store/key-files.js'
import { runCli } from '../helpers/cli.js'
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js'
import { commitAll, deviceConfig, makeImage, publishTx } from '../helpers/release.js'

/**
 * What a user sees when the ledger or a device refuses a release: the CLI's error (exit 4)
 * and `fwmesh status --json`, on the validator that refused it and on the device.
 */
describe('cli: refused releases, as a user sees them', () => {
  let cluster: Cluster
  let device: Node
  let validatorApi: string
  let deviceApi: string
  const keys: Record<string, string> = {}
  let imagePath = ''

  beforeAll(async () => {
    cluster = await startCluster({ seed: 'cli-refusals' })
    device = await cluster.addFollower({
      name: 'device',
      device: deviceConfig(join(cluster.dir, 'installed')),
    })
    const f = new TxFactory(cluster.chain)
    const v0 = cluster.validators[0]!
    await commitAll(v0, [...f.bootstrap(), f.registerDevice(device.keys.publicKey, 'gw', 'rev-a')])
    for (const [name, k] of Object.entries({
      publisher: cluster.chain.publisher,
      approver0: cluster.chain.approvers[0]!,
      approver1: cluster.chain.approvers[1]!,
    })) {
      keys[name] = join(cluster.dir, `${name}.key`)
      await writeKeyFile(keys[name]!, k)
    }
    validatorApi = `http://127.0.0.1:${v0.apiPort}`
    deviceApi = `http://127.0.0.1:${device.apiPort}`
    // Version 1.0.0 is installed everywhere first.
    const image = await makeImage(cluster.dir, 'fw.img', 512 * 1024, 'refusals')
    imagePath = image.path
    await v0.transfer.addImage(image.path, image.cid.toString())
    const first = publishTx(f, image, '1.0.0')
    await commitAll(v0, [
      first,
      f.approve(first.id, cluster.chain.approvers[0]!),
      f.approve(first.id, cluster.chain.approvers[1]!),
    ])
    await eventually(
      '1.0.0 installed',
      () => device.status().device?.installedVersion === '1.0.0' || undefined,
      60_000,
    )
  }, 120_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  const publish = (version: string, key: string, hardware = 'rev-a') =>
    runCli([
      'release',
      'publish',
      imagePath,
      '--product',
      'gw',
      '--version',
      version,
      '--hardware',
      hardware,
      '--key',
      key,
      '--node',
      validatorApi,
      '--wait',
      '20',
    ])

  async function rejectionCodes(api: string): Promise<string[]> {
    const status = JSON.parse((await runCli(['--json', 'status', '--node', api])).stdout)
    return status.rejections.map((r: { code: string }) => r.code)
  }

  async function deviceVerdict(version: string): Promise<{ eligible: boolean; reason?: string } | undefined> {
    const status = JSON.parse((await runCli(['--json', 'status', '--node', deviceApi])).stdout)
    return status.device.releases.find((r: { version: string }) => r.version === version)
  }

  it('a release signed by a key without the publisher role: exit 4 with the reason, and in status', async () => {
    const r = await publish('1.1.0', keys.approver0!)
    expect(r.code, r.stdout + r.stderr).toBe(4)
    expect(r.stderr).toMatch(/is not a publisher \(publish\.not-publisher\)/)
    expect(await rejectionCodes(validatorApi)).toContain('publish.not-publisher')
  })

  it('a downgrade: exit 4 with the reason, and in status', async () => {
    const r = await publish('0.9.0', keys.publisher!)
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/version 0\.9\.0 is not newer than 1\.0\.0.*\(publish\.not-newer\)/)
    expect(await rejectionCodes(validatorApi)).toContain('publish.not-newer')
  })

  it('an unapproved release is not installed, and the device status says why', async () => {
    const r = await publish('2.0.0', keys.publisher!)
    expect(r.code, r.stderr).toBe(0)
    await eventually('the device sees 2.0.0', async () => (await deviceVerdict('2.0.0')) ?? undefined)
    expect(await deviceVerdict('2.0.0')).toEqual(
      expect.objectContaining({ eligible: false, reason: 'not-approved' }),
    )
    expect(device.status().device?.installedVersion).toBe('1.0.0')
  })

  it('an approved release for other hardware is not installed, and the device status says why', async () => {
    const r = await runCli([
      '--json',
      'release',
      'publish',
      imagePath,
      '--product',
      'gw',
      '--version',
      '3.0.0',
      '--hardware',
      'rev-z',
      '--key',
      keys.publisher!,
      '--node',
      validatorApi,
    ])
    expect(r.code, r.stderr).toBe(0)
    const id = JSON.parse(r.stdout).release
    for (const approver of ['approver0', 'approver1'])
      expect(
        (await runCli(['release', 'approve', id, '--key', keys[approver]!, '--node', validatorApi])).code,
      ).toBe(0)
    await eventually('the device sees 3.0.0 approved', async () => {
      const v = await deviceVerdict('3.0.0')
      return v && v.reason !== 'not-approved' ? v : undefined
    })
    expect(await deviceVerdict('3.0.0')).toEqual(
      expect.objectContaining({ eligible: false, reason: 'other-hardware' }),
    )
    expect(device.status().device?.installedVersion).toBe('1.0.0')
    expect(device.status().device?.registered, 'the status shows what the ledger registered').toEqual({
      product: 'gw',
      hardware: 'rev-a',
    })
  })
})
