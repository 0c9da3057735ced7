import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NodeClient } from '../../src/cli/api-client.js'
import { didFromPublicKey, shortDid } from '../../src/crypto/did.js'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import { writeKeyFile } from '../../src/node/store/key-files.js'
import { runCli } from '../helpers/cli.js'
import { type Cluster, startCluster } from '../helpers/cluster.js'

describe('cli: commands against a running node', () => {
  let cluster: Cluster
  let node: string
  let registrarKey: string
  let outsiderKey: string
  let adminKey: string
  beforeAll(async () => {
    cluster = await startCluster({ seed: 'cli-remote', followers: 1 })
    node = `http://127.0.0.1:${cluster.followers[0]!.apiPort}`
    const f = new TxFactory(cluster.chain)
    const client = new NodeClient(node)
    // Through a follower, which gossips them to the validators: wait for each commit (a grant
    // still pending would fail a later test for a reason far from its cause).
    for (const tx of f.bootstrap()) {
      let answer = await client.submit(tx, 60_000)
      while (answer.status !== 'committed') answer = await client.submit(tx, 60_000)
    }
    registrarKey = join(cluster.dir, 'registrar.key')
    outsiderKey = join(cluster.dir, 'outsider.key')
    adminKey = join(cluster.dir, 'admin.key')
    await writeKeyFile(adminKey, cluster.chain.admin)
    await writeKeyFile(registrarKey, cluster.chain.registrar)
    await writeKeyFile(outsiderKey, cluster.chain.key('outsider'))
  }, 90_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it('registers a device, lists it, and shows its history from the ledger', async () => {
    const device = cluster.chain.key('cli-device')
    const did = didFromPublicKey(device.publicKey)
    const reg = await runCli([
      '--json',
      'device',
      'register',
      did,
      '--product',
      'gw',
      '--hardware',
      'rev-a',
      '--tag',
      'eu',
      '--key',
      registrarKey,
      '--node',
      node,
    ])
    expect(reg.code, reg.stderr).toBe(0)
    expect(JSON.parse(reg.stdout)).toMatchObject({ status: 'committed', device: did })
    const list = await runCli(['--json', 'device', 'list', '--node', node])
    expect(JSON.parse(list.stdout).map((d: { did: string }) => d.did)).toContain(did)
    const history = await runCli(['device', 'history', did, '--node', node])
    expect(history.code).toBe(0)
    // People read the short did of whoever signed; JSON carries every identity as a full did:key.
    expect(history.stdout).toContain(`device.register  by ${shortDid(cluster.chain.registrar.publicKey)}`)
    const historyJson = JSON.parse(
      (await runCli(['--json', 'device', 'history', did, '--node', node])).stdout,
    )
    expect(historyJson[0]).toMatchObject({
      type: 'device.register',
      signer: didFromPublicKey(cluster.chain.registrar.publicKey),
      device: did,
    })
    // Revoked (a stolen unit): gone from the list, its history keeps the revocation.
    const revoke = await runCli([
      'device',
      'revoke',
      did,
      '--reason',
      'stolen',
      '--key',
      registrarKey,
      '--node',
      node,
    ])
    expect(revoke.code, revoke.stderr).toBe(0)
    expect(revoke.stdout.startsWith(`revoked ${shortDid(did)} at height `), revoke.stdout).toBe(true)
    const after = await runCli(['--json', 'device', 'list', '--node', node])
    expect(JSON.parse(after.stdout).map((d: { did: string }) => d.did)).not.toContain(did)
    const revokedHistory = JSON.parse(
      (await runCli(['--json', 'device', 'history', did, '--node', node])).stdout,
    )
    expect(revokedHistory.map((r: { type: string }) => r.type)).toEqual(['device.register', 'device.revoke'])
    expect(revokedHistory[1]).toMatchObject({ reason: 'stolen', device: did })
    const status = await runCli(['--json', 'status', '--node', node])
    expect(JSON.parse(status.stdout)).toMatchObject({
      role: 'follower',
      chain: cluster.chain.genesis.chainId,
    })
  })

  it('grants, lists and revokes roles with the admin key, and says what a publisher grant lacks', async () => {
    const person = cluster.chain.key('cli-role-person')
    const did = didFromPublicKey(person.publicKey)
    const grant = await runCli([
      '--json',
      'role',
      'grant',
      'publisher',
      did,
      '--product',
      'gw',
      'cam',
      '--key',
      adminKey,
      '--node',
      node,
    ])
    expect(grant.code, grant.stderr).toBe(0)
    expect(JSON.parse(grant.stdout)).toMatchObject({ status: 'committed', role: 'publisher', did })
    const listed = await runCli(['--json', 'role', 'list', '--node', node])
    expect(JSON.parse(listed.stdout)).toContainEqual(
      expect.objectContaining({ role: 'publisher', did, products: ['gw', 'cam'] }),
    )
    const human = await runCli(['role', 'list', '--node', node])
    expect(human.stdout).toContain(`publisher  ${did}  products: gw, cam`)
    const revoke = await runCli(['role', 'revoke', 'publisher', did, '--key', adminKey, '--node', node])
    expect(revoke.code, revoke.stderr).toBe(0)
    const after = JSON.parse((await runCli(['--json', 'role', 'list', '--node', node])).stdout)
    expect(after.map((r: { did: string }) => r.did)).not.toContain(did)
    const noProducts = await runCli(['role', 'grant', 'publisher', did, '--key', adminKey, '--node', node])
    expect(noProducts.code).toBe(2)
    expect(noProducts.stderr).toMatch(/a publisher needs --product/)
    const badRole = await runCli(['role', 'grant', 'owner', did, '--key', adminKey, '--node', node])
    expect(badRole.code).toBe(2)
    expect(badRole.stderr).toMatch(/"owner" is not a role; the roles are publisher, approver, registrar/)
    const notAdmin = await runCli(['role', 'grant', 'approver', did, '--key', outsiderKey, '--node', node])
    expect(notAdmin.code).toBe(4)
  })

  it('pauses, resumes and aborts a release with a reason, and release show says which', async () => {
    const f = new TxFactory(cluster.chain)
    const client = new NodeClient(node)
    // A publisher of its own, so the test does not depend on the bootstrap's commits.
    const publisher = cluster.chain.key('cli-control-publisher')
    expect((await client.submit(f.grantRole(publisher.publicKey, 'publisher', ['gw']), 20_000)).status).toBe(
      'committed',
    )
    const release = f.publish(
      {
        product: 'gw',
        channel: 'control',
        version: '1.0.0',
        hardware: ['rev-a'],
        imageSize: 1024,
        imageSha256: new Uint8Array(32).fill(7),
        tags: ['pilot'],
      },
      publisher,
    )
    expect((await client.submit(release, 20_000)).status).toBe('committed')
    const id = release.idString
    const control = (verb: string, reason: string, key = adminKey) =>
      runCli(['release', verb, id, '--reason', reason, '--key', key, '--node', node])
    const paused = await control('pause', 'desk closed')
    expect(paused.code, paused.stderr).toBe(0)
    expect(paused.stdout).toMatch(new RegExp(`^paused ${id} at height \\d+`))
    const shown = await runCli(['release', 'show', id, '--node', node])
    expect(shown.stdout).toMatch(/paused at height \d+ by .*: desk closed/)
    expect(
      JSON.parse((await runCli(['--json', 'release', 'show', id, '--node', node])).stdout),
    ).toMatchObject({
      tags: ['pilot'],
      paused: { reason: 'desk closed' },
    })
    const again = await control('pause', 'twice')
    expect(again.code).toBe(4)
    expect(again.stderr).toMatch(/already paused/)
    expect((await control('resume', 'desk staffed')).code).toBe(0)
    expect((await control('abort', 'battery drain')).code).toBe(0)
    const listed = await runCli(['release', 'list', '--node', node])
    expect(listed.stdout).toContain(`${id}  gw 1.0.0 (control)  aborted`)
    const afterAbort = await control('resume', 'oops')
    expect(afterAbort.code).toBe(4)
    expect(afterAbort.stderr).toMatch(/was aborted/)
  })

  it('prints the ledger reason and exits 4 when a transaction is refused', async () => {
    const device = cluster.chain.key('refused-device')
    const r = await runCli([
      'device',
      'register',
      didFromPublicKey(device.publicKey),
      '--product',
      'gw',
      '--hardware',
      'a',
      '--key',
      outsiderKey,
      '--node',
      node,
    ])
    expect(r.code, r.stderr).toBe(4)
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      `fwmesh: the ledger refused the transaction: ${shortDid(cluster.chain.key('outsider').publicKey)} is not an admin, holds no role and is not a registered device (signer.unknown)`,
    )
  })

  it('says the node is unreachable, in one sentence, with exit code 3', async () => {
    const r = await runCli(['status', '--node', 'http://127.0.0.1:9'])
    expect(r.code).toBe(3)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/cannot reach the node at http:\/\/127\.0\.0\.1:9/)
  })
})
