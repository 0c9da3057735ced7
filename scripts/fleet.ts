/**
 * Real fwmesh processes on 127.0.0.1 for the demo and the node benchmark: key files, a genesis
 * made with the CLI, node configs, `fwmesh node` processes with their own data directories,
 * and a clean stop of everything started.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { openSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { NodeClient } from '../src/cli/api-client.js'
import { toHex } from '../src/codec/bytes.js'
import { didFromPublicKey } from '../src/crypto/did.js'
import { generateKeyPair, type KeyPair } from '../src/crypto/ed25519.js'
import { signTx, type TxBody } from '../src/ledger/tx.js'
import { writeKeyFile } from '../src/node/store/key-files.js'

export const ROOT = join(import.meta.dirname, '..')
export const FWMESH = join(ROOT, 'bin/fwmesh')

/** Processes started by this process; `stopAll` ends them. */
export const children: ChildProcess[] = []
/** The working directory of the fleet; set by the caller. */
export const fleet = { dir: '' }

/** Ports freePort handed out in this process: the kernel may offer a closed one again. */
const portsHandedOut = new Set<number>()
/** Attempts at a port not handed out before; the kernel's ephemeral range has thousands. */
const FREE_PORT_ATTEMPTS_MAX = 100

/**
 * A port free now and not handed out before by this process. A fleet asks for 40 ports before
 * any node binds one; a port handed out twice (or taken meanwhile by a connection) makes a node
 * exit with EADDRINUSE, which failed fidelity runs on a loaded machine. This rules out the first.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < FREE_PORT_ATTEMPTS_MAX; i++) {
    const port = await anyFreePort()
    if (portsHandedOut.has(port)) continue
    portsHandedOut.add(port)
    return port
  }
  throw new Error(`no new free port in ${FREE_PORT_ATTEMPTS_MAX} attempts`)
}

function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })
}

/** Runs the CLI as a user would; stdout and stderr pass through; resolves with stdout. */
export async function fwmesh(args: string[], options: { quiet?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(FWMESH, args, {
      stdio: ['ignore', 'pipe', options.quiet ? 'ignore' : 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    child.on('error', reject)
    child.on('exit', (code) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`fwmesh ${args.slice(0, 3).join(' ')} exited with ${code} ${out.trim()}`)),
    )
  })
}

export interface DemoNode {
  readonly name: string
  readonly keys: KeyPair
  readonly p2pPort: number
  readonly apiPort: number
  readonly dataDir: string
  readonly api: NodeClient
  readonly peerId: string
}

export async function makeNode(name: string, keys: KeyPair): Promise<DemoNode> {
  const dataDir = join(fleet.dir, name)
  await mkdir(dataDir, { recursive: true })
  const written = await writeKeyFile(join(dataDir, 'node.key'), keys)
  if (!written.ok) throw new Error(written.error.message)
  const apiPort = await freePort()
  const peerId = peerIdFromPublicKey(publicKeyFromRaw(keys.publicKey) as never).toString()
  return {
    name,
    keys,
    p2pPort: await freePort(),
    apiPort,
    dataDir,
    api: new NodeClient(`http://127.0.0.1:${apiPort}`),
    peerId,
  }
}

export function toml(value: unknown): string {
  return JSON.stringify(value)
}

export async function startNode(
  node: DemoNode,
  role: 'validator' | 'follower',
  bootstrap: string[],
  extra: string,
): Promise<void> {
  const config = join(node.dataDir, 'fwmesh.toml')
  await writeFile(
    config,
    [
      `data_dir = ${toml(node.dataDir)}`,
      `genesis = ${toml(join(fleet.dir, 'genesis.json'))}`,
      `role = ${toml(role)}`,
      '[network]',
      `listen = ${toml([`/ip4/127.0.0.1/tcp/${node.p2pPort}`])}`,
      `bootstrap = ${toml(bootstrap)}`,
      'mdns = false',
      '[api]',
      `listen = "127.0.0.1:${node.apiPort}"`,
      extra,
    ].join('\n'),
  )
  const log = openSync(join(node.dataDir, 'node.log'), 'a')
  const child = spawn(FWMESH, ['node', '--config', config], {
    stdio: ['ignore', 'ignore', log],
  })
  children.push(child)
}

/** A node starts in ~0.5 s; at load 20 (twelve starting at once beside other jobs) over 20 s. */
const NODE_START_TIMEOUT_MS = 60_000

export async function waitForApi(node: DemoNode): Promise<void> {
  const deadline = Date.now() + NODE_START_TIMEOUT_MS
  while (Date.now() < deadline) {
    try {
      await node.api.status()
      return
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  throw new Error(`${node.name} did not start; see ${join(node.dataDir, 'node.log')}`)
}

export async function submitAll(
  node: DemoNode,
  chainId: string,
  signer: KeyPair,
  bodies: Array<Record<string, unknown>>,
): Promise<void> {
  let nonce = Date.now()
  await Promise.all(
    bodies.map(async (fields) => {
      const tx = signTx(
        { ...fields, chain: chainId, signer: signer.publicKey, nonce: nonce++ } as TxBody,
        signer,
      )
      const r = await node.api.submit(tx, 30_000)
      if (r.status !== 'committed') throw new Error(`${fields.type} did not commit`)
    }),
  )
}

export async function stopAll(): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
          child.once('exit', () => {
            clearTimeout(timer)
            resolve()
          })
          child.kill('SIGTERM')
        }),
    ),
  )
}

/** The `[device]` section of a demo or benchmark device: examples/hooks/script.sh into its own folder. */
export function deviceSection(
  node: DemoNode,
  product = 'gateway',
  hardware = 'rev-b',
  initialVersion = '1.0.0',
): string {
  const installDir = join(node.dataDir, 'installed')
  return [
    '[device]',
    `product = ${toml(product)}`,
    `hardware = ${toml(hardware)}`,
    `install_command = ${toml([join(ROOT, 'examples/hooks/script.sh')])}`,
    `version_file = ${toml(join(installDir, 'version'))}`,
    `initial_version = ${toml(initialVersion)}`,
    `install_env = { FWMESH_INSTALL_DIR = ${toml(installDir)} }`,
  ].join('\n')
}

/**
 * Publishes an image with the CLI (from `<fleet>/publisher.key`) and approves it with every
 * `<fleet>/approver-N.key` given, as an operator would. Returns the release id.
 */
export async function publishAndApprove(
  api: string,
  image: string,
  fields: { product: string; version: string; hardware: string },
  approvers: number,
  options: { quiet?: boolean; waitSeconds?: number } = {},
): Promise<string> {
  const args = [
    '--json',
    'release',
    'publish',
    image,
    '--product',
    fields.product,
    '--version',
    fields.version,
  ]
  args.push('--hardware', fields.hardware, '--key', join(fleet.dir, 'publisher.key'), '--node', api)
  if (options.waitSeconds) args.push('--wait', String(options.waitSeconds))
  const published = JSON.parse(await fwmesh(args, { quiet: options.quiet ?? false })) as { release: string }
  for (let i = 0; i < approvers; i++) {
    await fwmesh(
      ['release', 'approve', published.release, '--key', join(fleet.dir, `approver-${i}.key`), '--node', api],
      { quiet: options.quiet ?? false },
    )
  }
  return published.release
}

/** The libp2p address of a fleet node, for bootstrap lists. */
export function address(node: DemoNode): string {
  return `/ip4/127.0.0.1/tcp/${node.p2pPort}/p2p/${node.peerId}`
}

/** Writes `<fleet>/genesis.json` with the CLI, as an operator would. */
export async function initGenesis(
  chainId: string,
  validators: readonly DemoNode[],
  admin: Uint8Array,
  blockIntervalMs: number,
  /** The benchmark and demo fleets make an empty block every 5 s (production: every 30 s). */
  emptyBlockIntervalMs = 5_000,
): Promise<void> {
  const args = [
    'genesis',
    'init',
    '--chain-id',
    chainId,
    '--threshold',
    '2',
    '--admin',
    didFromPublicKey(admin),
  ]
  args.push(
    '--out',
    join(fleet.dir, 'genesis.json'),
    '--param',
    `blockIntervalMs=${blockIntervalMs}`,
    '--param',
    `emptyBlockIntervalMs=${emptyBlockIntervalMs}`,
  )
  for (const v of validators) args.push('--validator', `${v.name}=${toHex(v.keys.publicKey)}`)
  await fwmesh(args, { quiet: true })
}

/** The people of a fleet: the admin (also the registrar), a publisher and two approvers. */
export interface Operators {
  readonly admin: KeyPair
  readonly publisher: KeyPair
  readonly approvers: readonly KeyPair[]
}

/**
 * Makes the operators' keys and writes `<fleet>/publisher.key` and `<fleet>/approver-N.key`,
 * the files `publishAndApprove` signs with.
 */
export async function makeOperators(): Promise<Operators> {
  const key = async (name: string) => {
    const keys = generateKeyPair()
    const written = await writeKeyFile(join(fleet.dir, `${name}.key`), keys)
    if (!written.ok) throw new Error(written.error.message)
    return keys
  }
  return {
    admin: await key('admin'),
    publisher: await key('publisher'),
    approvers: [await key('approver-0'), await key('approver-1')],
  }
}

/** Grants the operators their roles (publisher of `products`, approvers, registrar). */
export async function grantRoles(
  node: DemoNode,
  chainId: string,
  ops: Operators,
  products: readonly string[] = ['gateway'],
): Promise<void> {
  await submitAll(node, chainId, ops.admin, [
    { type: 'role.grant', subject: ops.publisher.publicKey, role: 'publisher', products: [...products] },
    ...ops.approvers.map((a) => ({ type: 'role.grant', subject: a.publicKey, role: 'approver' })),
    { type: 'role.grant', subject: ops.admin.publicKey, role: 'registrar' },
  ])
}
