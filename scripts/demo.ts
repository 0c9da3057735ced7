/**
 * `npm run demo`: a whole fwmesh rollout on 127.0.0.1, with real processes.
 *
 * 4 validators and 12 devices run as separate `fwmesh node` processes with their own data
 * directories. The CLI publishes a 16 MiB release from validator 0 (the origin, whose uplink
 * is limited to 8 MiB/s, as a publisher's usually is), two approvers approve it, and the
 * rollout is shown live. It ends with a summary per device (installed version, bytes from the
 * origin and from peers) and the audit trail read back from the ledger. Every process it
 * started is stopped; the exit code is 0 only if every device installed the release.
 */
import '../src/polyfills.js'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '../src/crypto/ed25519.js'
import { Prng } from '../src/prng.js'
import {
  address,
  deviceSection,
  fleet,
  fwmesh,
  grantRoles,
  initGenesis,
  makeNode,
  makeOperators,
  publishAndApprove,
  startNode,
  stopAll,
  submitAll,
  toml,
  waitForApi,
} from './fleet.js'

const VALIDATORS = 4
const DEVICES = 12
const IMAGE_BYTES = 16 * 1024 * 1024
const ORIGIN_UPLOAD = '8 MiB/s'
const DEADLINE_MS = 85_000

const started = Date.now()
let dir = ''

function say(text: string): void {
  process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${text}\n`)
}

async function main(): Promise<number> {
  dir = await mkdtemp(join(tmpdir(), 'fwmesh-demo-'))
  fleet.dir = dir
  say(`fwmesh demo in ${dir}: ${VALIDATORS} validators and ${DEVICES} devices on 127.0.0.1`)

  // Keys: the committee, the people who publish and approve, and every device.
  const ops = await makeOperators()
  const { admin, approvers } = ops
  const validators = await Promise.all(
    Array.from({ length: VALIDATORS }, (_, i) => makeNode(`validator-${i}`, generateKeyPair())),
  )
  const devices = await Promise.all(
    Array.from({ length: DEVICES }, (_, i) => makeNode(`device-${i}`, generateKeyPair())),
  )

  await initGenesis('demo', validators, admin.publicKey, 200)
  say('genesis written (fwmesh genesis init)')

  for (const [i, v] of validators.entries()) {
    await startNode(
      v,
      'validator',
      validators.filter((o) => o !== v).map(address),
      i === 0 ? `[bandwidth]\nupload = ${toml(ORIGIN_UPLOAD)}` : '',
    )
  }
  await Promise.all(validators.map(waitForApi))
  say(`${VALIDATORS} validators up`)

  const chainId = 'demo'
  await grantRoles(validators[0]!, chainId, ops)
  await submitAll(
    validators[0]!,
    chainId,
    admin,
    devices.map((d) => ({
      type: 'device.register',
      device: d.keys.publicKey,
      product: 'gateway',
      hardware: 'rev-b',
      groups: ['demo'],
    })),
  )
  say('roles granted and 12 devices registered')

  for (const [i, d] of devices.entries()) {
    const _installDir = join(d.dataDir, 'installed')
    const bootstrap = [...validators, ...devices.slice(Math.max(0, i - 3), i)].map(address)
    await startNode(d, 'follower', bootstrap, deviceSection(d))
  }
  await Promise.all(devices.map(waitForApi))
  say(`${DEVICES} devices up, running 1.0.0`)

  const image = join(dir, 'gateway-1.1.0.img')
  await writeFile(image, Prng.fromSeed('demo-image').bytes(IMAGE_BYTES))
  const v0 = `http://127.0.0.1:${validators[0]!.apiPort}`
  say('fwmesh release publish gateway-1.1.0.img --product gateway --version 1.1.0 --hardware rev-b')
  const release = await publishAndApprove(
    v0,
    image,
    { product: 'gateway', version: '1.1.0', hardware: 'rev-b' },
    approvers.length,
  )
  say(`published release ${release} and approved it with 2 approvers (fwmesh release approve)`)
  say('devices start fetching from the origin and from each other')

  const remaining = Math.max(5, Math.floor((DEADLINE_MS - (Date.now() - started)) / 1000))
  let rolloutOk = true
  try {
    await fwmesh(['release', 'rollout', release, '--wait', String(remaining), '--node', v0])
  } catch {
    rolloutOk = false
  }

  // Summary: what each device runs, and where its bytes came from.
  const originPeer = validators[0]!.peerId
  process.stdout.write('\ndevice      installed  from origin   from peers\n')
  let allInstalled = true
  let fromOrigin = 0
  let fromPeers = 0
  for (const d of devices) {
    const status = await d.api.status()
    const downloads = await d.api.downloads()
    const bytes = (downloads[0]?.bytesFrom ?? {}) as Record<string, number>
    const origin = bytes[originPeer] ?? 0
    const peers = Object.entries(bytes).reduce((sum, [peer, n]) => sum + (peer === originPeer ? 0 : n), 0)
    fromOrigin += origin
    fromPeers += peers
    const version = (status.device as { installedVersion?: string } | null)?.installedVersion ?? '?'
    if (version !== '1.1.0') {
      allInstalled = false
      if (process.env.FWMESH_DEMO_DEBUG)
        process.stdout.write(
          `${JSON.stringify({ head: status.head, peers: status.peers, device: status.device, live: status.live })}\n`,
        )
    }
    process.stdout.write(
      `${d.name.padEnd(11)} ${version.padEnd(10)} ${(origin / 1048576).toFixed(1).padStart(8)} MiB ${(peers / 1048576).toFixed(1).padStart(8)} MiB\n`,
    )
  }
  process.stdout.write(
    `\norigin sent ${(fromOrigin / IMAGE_BYTES).toFixed(2)} image copies; peers sent ${(fromPeers / IMAGE_BYTES).toFixed(2)} (a server alone would have sent ${DEVICES})\n\n`,
  )
  say(`audit trail of the release (fwmesh audit release ${release.slice(0, 16)}…):`)
  process.stdout.write(await fwmesh(['audit', 'release', release, '--node', v0]))
  const ok = rolloutOk && allInstalled
  say(
    ok
      ? `every device installed 1.1.0 in ${((Date.now() - started) / 1000).toFixed(1)} s`
      : 'not every device installed the release',
  )
  return ok ? 0 : 1
}

let code = 1
const interrupted = () => {
  void stopAll().then(() => process.exit(130))
}
process.once('SIGINT', interrupted)
process.once('SIGTERM', interrupted)
try {
  code = await main()
} catch (cause) {
  process.stderr.write(`demo failed: ${(cause as Error).message}\n`)
  if (dir) process.stderr.write(`node logs are in ${dir}/*/node.log\n`)
} finally {
  await stopAll()
  if (code === 0 && dir && !process.env.FWMESH_DEMO_KEEP) await rm(dir, { recursive: true, force: true })
  else if (dir) process.stdout.write(`files kept in ${dir}\n`)
}
process.exit(code)
