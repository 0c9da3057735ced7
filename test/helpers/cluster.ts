import { copyFile, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type CID, cidToString } from '../../src/codec/cid.js'
import { type DevChain, makeDevChain } from '../../src/ledger/dev-chain.js'
import { genesisToJson } from '../../src/ledger/genesis.js'
import type { FreeSpace } from '../../src/node/agent-driver.js'
import type { Clock } from '../../src/node/clock.js'
import { buildConfig, type NodeConfig } from '../../src/node/config.js'
import { Node } from '../../src/node/daemon.js'
import { dataLayout } from '../../src/node/layout.js'
import { makeLogger } from '../../src/node/log.js'
import { writeKeyFile } from '../../src/node/store/key-files.js'
import { tempDir } from './tmp.js'

/**
 * Real fwmesh nodes in this process, on 127.0.0.1 with ephemeral ports: validators from a
 * dev chain, then followers. Each node bootstraps to every node started before it, so the
 * validators form a full mesh without mDNS.
 */
export interface Cluster {
  readonly chain: DevChain
  readonly dir: string
  readonly validators: Node[]
  readonly followers: Node[]
  addFollower(options?: FollowerOptions): Promise<Node>
  /** Stops a node and starts it again on the same data directory and config. */
  restart(node: Node): Promise<Node>
  stop(): Promise<void>
}

export interface FollowerOptions {
  device?: NodeConfig['device']
  name?: string
  /** Images the follower holds whole when it starts (not as their origin: no super-seeding). */
  holds?: ReadonlyArray<{ path: string; cid: CID; encoded: Uint8Array }>
  /** Its upload limit in bytes per second (0 = none, the default). */
  uploadBytesPerSec?: number
  /** How its device agent measures free disk space (default: the real file system's). */
  freeSpace?: FreeSpace
}

export async function startCluster(options: {
  /** Upload limit of validator 0, the origin in rollout tests (bytes per second; 0 = none). */
  originUploadBytesPerSec?: number
  seed: string
  validators?: number
  followers?: number
  params?: NonNullable<Parameters<typeof makeDevChain>[0]>['params']
  /** Every node's `ledger.max_chain_age` (ms); the default is three heartbeat intervals. */
  maxChainAgeMs?: number
  /**
   * Whom each node is told of at start: every node started before it (the default, a full
   * mesh by construction), or only the first validator, as an operator who writes one address.
   */
  bootstrap?: 'all-before' | 'first'
  /** The clock every node reads (Node.start's `clock`); the system clock by default. */
  clock?: Clock
}): Promise<Cluster> {
  const chain = makeDevChain({
    seed: options.seed,
    validators: options.validators ?? 4,
    params: { blockIntervalMs: 100, emptyBlockIntervalMs: 2_000, ...options.params },
  })
  const { dir, cleanup } = await tempDir(`cluster-${options.seed}`)
  const genesisPath = join(dir, 'genesis.json')
  await writeFile(genesisPath, genesisToJson(chain.genesis))
  const validators: Node[] = []
  const followers: Node[] = []
  const level = (process.env.FWMESH_TEST_LOG ?? 'silent') as 'silent'
  const bootstrapList = () =>
    (options.bootstrap === 'first' ? validators.slice(0, 1) : [...validators, ...followers]).flatMap((n) =>
      n.addresses().slice(0, 1),
    )

  const start = async (
    name: string,
    role: 'validator' | 'follower',
    keyIndex: number | null,
    device: NodeConfig['device'] = null,
    follower: FollowerOptions = {},
  ) => {
    const dataDir = join(dir, name)
    if (follower.holds?.length) {
      // Written where the node keeps its images: it opens them at start and serves them.
      const images = dataLayout(dataDir).images
      await mkdir(images, { recursive: true })
      for (const image of follower.holds) {
        const key = cidToString(image.cid)
        await copyFile(image.path, join(images, `${key}.img`))
        await writeFile(join(images, `${key}.manifest`), image.encoded)
      }
    }
    if (keyIndex !== null) {
      const { mkdir } = await import('node:fs/promises')
      await mkdir(dataDir, { recursive: true })
      const written = await writeKeyFile(join(dataDir, 'node.key'), chain.validators[keyIndex]!)
      if (!written.ok) throw new Error(written.error.message)
    }
    const config = buildConfig(
      {
        data_dir: dataDir,
        genesis: genesisPath,
        role,
        network: { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: bootstrapList(), mdns: false },
        api: { listen: '127.0.0.1:0' },
      },
      {},
      dir,
    )
    if (!config.ok) throw new Error(config.error.message)
    const bandwidth =
      name === 'validator-0'
        ? { uploadBytesPerSec: options.originUploadBytesPerSec ?? 0, downloadBytesPerSec: 0 }
        : follower.uploadBytesPerSec
          ? { ...config.value.bandwidth, uploadBytesPerSec: follower.uploadBytesPerSec }
          : config.value.bandwidth
    return Node.start(
      {
        ...config.value,
        bandwidth,
        ...(device ? { device } : {}),
        ...(options.maxChainAgeMs ? { ledger: { maxChainAgeMs: options.maxChainAgeMs } } : {}),
      },
      {
        log: makeLogger(level, { node: name }),
        ...(follower.freeSpace ? { freeSpace: follower.freeSpace } : {}),
        ...(options.clock ? { clock: options.clock } : {}),
      },
    )
  }

  for (let i = 0; i < chain.validators.length; i++)
    validators.push(await start(`validator-${i}`, 'validator', i))
  const cluster: Cluster = {
    chain,
    dir,
    validators,
    followers,
    async addFollower(opts = {}) {
      const node = await start(
        opts.name ?? `follower-${followers.length}`,
        'follower',
        null,
        opts.device ?? null,
        opts,
      )
      followers.push(node)
      return node
    },
    async restart(node) {
      await node.stop()
      const again = await Node.start(node.config, {
        log: makeLogger(level, { node: `${node.config.dataDir}*` }),
      })
      for (const list of [validators, followers]) {
        const i = list.indexOf(node)
        if (i >= 0) list[i] = again
      }
      return again
    },
    async stop() {
      await Promise.all([...followers, ...validators].map((n) => n.stop()))
      await cleanup()
    },
  }
  for (let i = 0; i < (options.followers ?? 0); i++) await cluster.addFollower()
  return cluster
}

/** Polls `check` until it returns a value, or fails after `timeoutMs`. */
/**
 * Like `eventually`, but the deadline follows progress: it fails only when `progress()` (a
 * count that grows while the work advances: bytes fetched, devices done) has not grown for
 * `stallMs`. A busy machine slows a rollout down; it does not stop it.
 */
export async function eventuallyProgressing<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  progress: () => number,
  stallMs = 30_000,
): Promise<T> {
  let seen = progress()
  let deadline = Date.now() + stallMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value as T
    const now = progress()
    if (now > seen) {
      seen = now
      deadline = Date.now() + stallMs
    }
    if (Date.now() > deadline)
      throw new Error(`no progress for ${stallMs} ms waiting for ${what} (at ${seen})`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

export async function eventually<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value as T
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
