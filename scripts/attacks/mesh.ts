/**
 * The mesh `npm run test:attacks` attacks: 4 validators and 3 devices as real `fwmesh node`
 * processes on 127.0.0.1 (scripts/fleet.ts), the operators' keys, and what the attacks need to
 * look at them from outside: the CLI with its exit code, the devices' installed versions and
 * downloads, /metrics, RSS from /proc, node logs.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, type KeyPair } from '../../src/crypto/ed25519.js'
import { type SignedTx, signTx, type TxBody } from '../../src/ledger/tx.js'
import { Prng } from '../../src/prng.js'
import {
  address,
  children,
  type DemoNode,
  deviceSection,
  FWMESH,
  fleet,
  grantRoles,
  initGenesis,
  makeNode,
  makeOperators,
  type Operators,
  startNode,
  submitAll,
  waitForApi,
} from '../fleet.js'

export const CHAIN = 'attacks'
export const PRODUCT = 'gateway'
export const HARDWARE = 'rev-b'
const MiB = 1024 * 1024
/** Images are small: the run lasts minutes, and a download still takes seconds at the origin's limit. */
export const IMAGE_BYTES = 4 * MiB
/** The origin's upload limit: a download lasts a few seconds, so attacks happen during it. */
export const ORIGIN_UPLOAD_BYTES_PER_SEC = 2 * MiB
/** A heartbeat a second: the freeze shows within seconds, and commits keep coming. */
export const HEARTBEAT_MS = 1_000
/** The devices' max_chain_age: a few heartbeats, so a loaded machine does not trip it. */
export const MAX_CHAIN_AGE_S = 6

/** One row of the table. */
export interface Outcome {
  readonly attack: string
  readonly tried: string
  readonly outcome: string
  readonly rejected: boolean
  /** Whether a device installed what it should not (checked beside `rejected`). */
  readonly badInstall?: boolean
  readonly figures?: Record<string, unknown>
}

export interface Mesh {
  readonly validators: DemoNode[]
  readonly devices: DemoNode[]
  readonly ops: Operators
  /** A key with no role on the chain. */
  readonly stranger: KeyPair
  /** The process of each node (replaced when a node restarts). */
  readonly procs: Map<string, ChildProcess>
  /** Signed transactions that committed during setup, with their height (the replay attack resubmits one). */
  readonly committed: Array<{ tx: SignedTx; height: number }>
  /** The newest version published on the stable channel so far. */
  latest: string
}

export const api = (node: DemoNode) => `http://127.0.0.1:${node.apiPort}`

export async function startMesh(): Promise<Mesh> {
  const ops = await makeOperators()
  const validators: DemoNode[] = []
  for (let i = 0; i < 4; i++) validators.push(await makeNode(`validator-${i}`, generateKeyPair()))
  const devices: DemoNode[] = []
  for (let i = 0; i < 3; i++) devices.push(await makeNode(`device-${i}`, generateKeyPair()))
  await initGenesis(CHAIN, validators, ops.admin.publicKey, 100, HEARTBEAT_MS)
  const mesh: Mesh = {
    validators,
    devices,
    ops,
    stranger: generateKeyPair(),
    procs: new Map(),
    committed: [],
    latest: '1.0.0',
  }
  await Promise.all(validators.map((v) => startValidator(mesh, v)))
  await Promise.all(validators.map(waitForApi))
  await grantRoles(validators[0]!, CHAIN, ops, [PRODUCT])
  for (const d of devices) {
    const tx = signTx(
      {
        type: 'device.register',
        device: d.keys.publicKey,
        product: PRODUCT,
        hardware: HARDWARE,
        groups: [],
        chain: CHAIN,
        signer: ops.admin.publicKey,
        nonce: Date.now(),
      } as TxBody,
      ops.admin,
    )
    const r = await validators[0]!.api.submit(tx, 30_000)
    if (r.status !== 'committed') throw new Error('device.register did not commit')
    mesh.committed.push({ tx, height: r.height ?? -1 })
  }
  await Promise.all(devices.map((d) => startDevice(mesh, d)))
  await Promise.all(devices.map(waitForApi))
  return mesh
}

/** Validator 0 is the origin: the publisher's node, its upload limited. */
export async function startValidator(mesh: Mesh, v: DemoNode): Promise<void> {
  const i = mesh.validators.indexOf(v)
  const extra = i === 0 ? `[bandwidth]\nupload = ${ORIGIN_UPLOAD_BYTES_PER_SEC}` : ''
  await startNode(v, 'validator', mesh.validators.filter((o) => o !== v).map(address), extra)
  mesh.procs.set(v.name, children.at(-1)!)
}

export async function startDevice(mesh: Mesh, d: DemoNode): Promise<ChildProcess> {
  const bootstrap = [...mesh.validators, ...mesh.devices.filter((o) => o !== d)].map(address)
  await startNode(
    d,
    'follower',
    bootstrap,
    [deviceSection(d, PRODUCT, HARDWARE), '[ledger]', `max_chain_age = "${MAX_CHAIN_AGE_S}s"`].join('\n'),
  )
  const child = children.at(-1)!
  mesh.procs.set(d.name, child)
  return child
}

/** Stops one node's process (SIGTERM) and waits for it to exit. */
export async function stopNode(mesh: Mesh, node: DemoNode): Promise<void> {
  const child = mesh.procs.get(node.name)
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

/** What a CLI run ended with. */
export interface CliRun {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  /** The JSON document of `--json` output, when there is one. */
  readonly json: Record<string, unknown> | undefined
}

/** Runs the built CLI as an operator would, and keeps its exit code and output. */
export function cli(args: string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(FWMESH, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    child.on('error', reject)
    child.on('exit', (code) => {
      let json: Record<string, unknown> | undefined
      try {
        json = JSON.parse(stdout) as Record<string, unknown>
      } catch {
        json = undefined
      }
      resolve({ code: code ?? -1, stdout, stderr, json })
    })
  })
}

/** Publishes an image with the CLI (`release publish --json`) with a key file, at a node. */
export function publish(
  node: DemoNode,
  image: string,
  version: string,
  options: { key?: string; hardware?: string; channel?: string } = {},
): Promise<CliRun> {
  return cli([
    '--json',
    'release',
    'publish',
    image,
    '--product',
    PRODUCT,
    '--version',
    version,
    '--hardware',
    options.hardware ?? HARDWARE,
    '--channel',
    options.channel ?? 'stable',
    '--key',
    options.key ?? join(fleet.dir, 'publisher.key'),
    '--node',
    api(node),
  ])
}

export function approve(node: DemoNode, release: string, keyFile: string): Promise<CliRun> {
  return cli(['--json', 'release', 'approve', release, '--key', keyFile, '--node', api(node)])
}

/** Writes a key file for `keys` in the fleet directory; returns its path. */
export async function keyFile(name: string, keys: KeyPair): Promise<string> {
  const { writeKeyFile } = await import('../../src/node/store/key-files.js')
  const path = join(fleet.dir, `${name}.key`)
  const written = await writeKeyFile(path, keys)
  if (!written.ok) throw new Error(written.error.message)
  return path
}

export const approverKey = (i: number) => join(fleet.dir, `approver-${i}.key`)

/** A seeded random image of `bytes` in the fleet directory, with its SHA-256. */
export async function makeImage(name: string, seed: string, bytes = IMAGE_BYTES) {
  const path = join(fleet.dir, name)
  const data = Prng.fromSeed(seed).bytes(bytes)
  await writeFile(path, data)
  return { path, sha256: createHash('sha256').update(data).digest('hex') }
}

/** The version a device runs, from `fwmesh status --json` (null when it does not answer). */
export async function installedVersion(device: DemoNode): Promise<string | null> {
  const r = await cli(['--json', 'status', '--node', api(device)])
  const d = r.json?.device as { installedVersion?: string } | undefined
  return d?.installedVersion ?? null
}

export async function installedVersions(mesh: Mesh): Promise<string[]> {
  return Promise.all(mesh.devices.map(async (d) => (await installedVersion(d)) ?? '?'))
}

/** SHA-256 of the image a device's install hook put in place. */
export async function installedImageSha256(device: DemoNode): Promise<string | null> {
  try {
    const data = await readFile(join(device.dataDir, 'installed', 'firmware.img'))
    return createHash('sha256').update(data).digest('hex')
  } catch {
    return null
  }
}

export interface DownloadRow {
  manifest: string
  chunks: number
  held: number
  written: number
  complete: boolean
  downloading: boolean
  bytesFrom: Record<string, number>
  banned: Record<string, string>
}

export async function downloadOf(device: DemoNode, manifest: string): Promise<DownloadRow | undefined> {
  const rows = (await device.api.downloads().catch(() => [])) as unknown as DownloadRow[]
  return rows.find((r) => r.manifest === manifest)
}

/** One value of a /metrics series (the first line matching name and labels), or null. */
export async function metric(node: DemoNode, series: string): Promise<number | null> {
  const text = await fetch(`${api(node)}/metrics`)
    .then((r) => r.text())
    .catch(() => '')
  const escaped = series.replace(/[{}"=.]/g, (c) => `\\${c}`)
  const m = new RegExp(`^${escaped} ([\\d.e+-]+)$`, 'm').exec(text)
  return m ? Number(m[1]) : null
}

export async function headHeight(node: DemoNode): Promise<number> {
  const s = await node.api.status()
  return Number((s.head as { height?: number } | undefined)?.height ?? -1)
}

/** Resident memory of a process, in MiB, from /proc. */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024
}

export async function logOf(node: DemoNode): Promise<string> {
  return readFile(join(node.dataDir, 'node.log'), 'utf8').catch(() => '')
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Waits until `check` holds, polling; throws naming `what` after `timeoutMs`. */
export async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!(await check().catch(() => false))) {
    if (performance.now() > deadline) throw new Error(`timed out: ${what}`)
    await sleep(100)
  }
}

/**
 * Waits for `blocks` more blocks on a node: what "nothing happened" is measured against, so a
 * check that nothing was downloaded follows the chain's progress rather than wall time.
 */
export async function blocksPass(node: DemoNode, blocks: number): Promise<void> {
  const from = await headHeight(node)
  await until(
    `${blocks} blocks on ${node.name}`,
    60_000,
    async () => (await headHeight(node)) >= from + blocks,
  )
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** Nonces of the transactions the harness signs itself: distinct, so no two share an id. */
let nonce = Date.now()

/** Signs `fields` as `signer` on the mesh's chain, with a fresh nonce. */
export function sign(signer: KeyPair, fields: Record<string, unknown>): SignedTx {
  return signTx({ ...fields, chain: CHAIN, signer: signer.publicKey, nonce: nonce++ } as TxBody, signer)
}

/** Submits through a node's API; returns the rejection code, or 'accepted'/'committed'. */
export async function submitCode(node: DemoNode, tx: SignedTx, waitMs = 10_000): Promise<string> {
  try {
    const r = await node.api.submit(tx, waitMs)
    return r.status === 'committed' ? `committed@${r.height}` : 'accepted'
  } catch (error) {
    const code = (error as { detail?: { code?: string } }).detail?.code
    return code ?? `error: ${(error as Error).message}`
  }
}

export { submitAll }
