/**
 * The ledger tampered with at rest: device-1 is stopped, and one byte of a block, then a state
 * record (its own hardware model), is changed in its LevelDB store. `fwmesh node` must refuse
 * to start (exit 5, naming the height or the record) and `fwmesh ledger verify` must exit 5;
 * once its ledger/ folder is removed, the device syncs the chain again and rejoins.
 * (test/cli/ledger-verify.test.ts and test/node/store/level-ledger-store-at-rest.test.ts do
 * the same in process.)
 */
import type { ChildProcess } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { toHex } from '../../src/codec/bytes.js'
import { decodeCbor, encodeCbor } from '../../src/codec/cbor.js'
import { dataLayout } from '../../src/node/layout.js'
import { heightKey } from '../../src/node/store/level-ledger-store.js'
import { type DemoNode, fleet, waitForApi } from '../fleet.js'
import { cli, headHeight, logOf, type Mesh, type Outcome, startDevice, stopNode, until } from './mesh.js'

/** A refused start exits within seconds; a node that does start is stopped after this. */
const REFUSED_START_TIMEOUT_MS = 60_000

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode)
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      resolve(null)
    }, REFUSED_START_TIMEOUT_MS)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve(code)
    })
  })
}

type Store = Level<string, Uint8Array>

async function edit(dir: string, change: (db: Store) => Promise<string>): Promise<string> {
  const db = new Level<string, Uint8Array>(dataLayout(dir).ledger, { valueEncoding: 'view' })
  try {
    return await change(db)
  } finally {
    await db.close()
  }
}

/** Starts the tampered node and `ledger verify`; then removes ledger/ and waits for the resync. */
async function refusedThenRepaired(mesh: Mesh, device: DemoNode) {
  const logBefore = (await logOf(device)).length
  const nodeExit = await exitOf(await startDevice(mesh, device))
  const said = (await logOf(device)).slice(logBefore).trim().split('\n').at(-1) ?? ''
  const verify = await cli([
    '--json',
    'ledger',
    'verify',
    '--data-dir',
    device.dataDir,
    '--genesis',
    join(fleet.dir, 'genesis.json'),
  ])
  await rm(dataLayout(device.dataDir).ledger, { recursive: true, force: true })
  await startDevice(mesh, device)
  await waitForApi(device)
  const target = await headHeight(mesh.validators[0]!)
  let rejoined = true
  await until(
    `${device.name} resyncs to height ${target}`,
    120_000,
    async () => (await headHeight(device)) >= target,
  ).catch(() => {
    rejoined = false
  })
  return { nodeExit, said, verify, rejoined, target }
}

export async function tamperedAtRest(mesh: Mesh): Promise<Outcome[]> {
  const device = mesh.devices[1]!
  const out: Outcome[] = []

  await stopNode(mesh, device)
  const blockHeight = 3
  await edit(device.dataDir, async (db) => {
    const blocks = db.sublevel<string, Uint8Array>('blocks', { valueEncoding: 'view' })
    const bytes = await blocks.get(heightKey(blockHeight))
    if (!bytes) throw new Error(`no block ${blockHeight} in the store`)
    const changed = new Uint8Array(bytes)
    changed[changed.length - 1]! ^= 0x01
    await blocks.put(heightKey(blockHeight), changed)
    return 'ok'
  })
  const a = await refusedThenRepaired(mesh, device)
  out.push({
    attack: 'tampered ledger at rest (block)',
    tried: `stop device-1, flip one bit of block ${blockHeight} in its LevelDB store, start it; ledger verify; remove ledger/ and start again`,
    outcome: `fwmesh node exit ${a.nodeExit} (${a.said.slice(0, 160)}); ledger verify exit ${a.verify.code} height ${String(a.verify.json?.height)}; after removing ledger/: ${a.rejoined ? `resynced to ${a.target}` : 'did NOT resync'}`,
    rejected: a.nodeExit === 5 && a.verify.code === 5 && a.verify.json?.height === blockHeight && a.rejoined,
  })

  await stopNode(mesh, device)
  const key = toHex(device.keys.publicKey)
  await edit(device.dataDir, async (db) => {
    const devices = db.sublevel<string, Uint8Array>('state-devices', { valueEncoding: 'view' })
    const decoded = decodeCbor((await devices.get(key))!, 1 << 20)
    if (!decoded.ok) throw new Error(decoded.error.message)
    await devices.put(key, encodeCbor({ ...(decoded.value as object), hardware: 'rev-z' }))
    return 'ok'
  })
  const b = await refusedThenRepaired(mesh, device)
  const record = `devices/${key}`
  out.push({
    attack: 'tampered ledger at rest (state record)',
    tried:
      "stop device-1, set its own record's hardware to rev-z in its LevelDB store, start it; ledger verify; remove ledger/ and start again",
    outcome: `fwmesh node exit ${b.nodeExit} (${b.said.includes(record) ? 'names the record' : 'does NOT name the record'}); ledger verify exit ${b.verify.code} record ${String(b.verify.json?.record).slice(0, 24)}…; after removing ledger/: ${b.rejoined ? `resynced to ${b.target}` : 'did NOT resync'}`,
    rejected: b.nodeExit === 5 && b.verify.code === 5 && b.verify.json?.record === record && b.rejoined,
  })
  return out
}
