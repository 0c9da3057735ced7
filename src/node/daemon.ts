import { mkdir, readFile } from 'node:fs/promises'
import { getHeapSpaceStatistics } from 'node:v8'
import { ROLLOUT_STATES, type RolloutReport, type RolloutView, rolloutView } from '../agent/rollout-view.js'
import { toHex } from '../codec/bytes.js'
import { cidToString } from '../codec/cid.js'
import {
  API_TOKEN_LENGTH_MAX,
  API_TOKEN_LENGTH_MIN,
  MAX_CHAIN_AGE_HEARTBEATS,
  ROLLOUT_METRICS_RELEASES_MAX,
} from '../constants.js'
import { didFromPublicKey } from '../crypto/did.js'
import { generateKeyPair, type KeyPair } from '../crypto/ed25519.js'
import { type Genesis, genesisId, parseGenesis } from '../ledger/genesis.js'
import type { AuditIndex, LedgerStore } from '../ledger/ledger-store.js'
import { isInstallable, type ReleaseRecord } from '../ledger/state.js'
import { decodeTx, type SignedTx, type TxOf } from '../ledger/tx.js'
import { txBodyJson } from '../ledger/tx-json.js'
import { chunkingFault } from '../transfer/manifest.js'
import { AgentDriver, type FreeSpace } from './agent-driver.js'
import { type ApiResult, ApiStartError, type NodeApiHandlers, prometheus, startApi } from './api.js'
import type { ChunkTraffic } from './chunk-links.js'
import { type Clock, monotonicClock, systemClock } from './clock.js'
import type { NodeConfig } from './config.js'
import { parseBootstrapList } from './connector.js'
import { Gossip } from './gossip.js'
import { createHost, type Host, protocolIds } from './host.js'
import { dataLayout } from './layout.js'
import type { TxOutcome } from './ledger-driver.js'
import { LedgerDriver, toPeerId } from './ledger-driver.js'
import { type Logger, makeLogger } from './log.js'
import { MemoryWatch } from './memory-watch.js'
import { ValidatorChannels } from './pbft-protocol.js'
import { ProgressPublisher, RolloutProgress } from './progress-gossip.js'
import type { StageResult } from './publish-staging.js'
import { readKeyFile, writeKeyFile } from './store/key-files.js'
import { LevelLedgerStore } from './store/level-ledger-store.js'
import { requestSync, syncHandler } from './sync-protocol.js'
import { TransferService } from './transfer-service.js'

/**
 * Why the node could not start; the CLI prints the message and exits non-zero: 5 when the
 * ledger on disk failed verification (`reason` 'ledger-corrupt'), 8 when an address it must
 * listen on cannot be bound ('listen'), 1 otherwise.
 */
export class StartError extends Error {
  override name = 'StartError'
  constructor(
    message: string,
    readonly reason: 'ledger-corrupt' | 'listen' | 'other' = 'other',
  ) {
    super(message)
  }
}

/** What an operator does when the data directory cannot be created or written. */
const DATA_DIR_FIXES: Readonly<Record<string, string>> = {
  EEXIST: 'a file (not a folder) has that name: remove it or point data_dir elsewhere',
  ENOTDIR: 'a part of the path is a file, not a folder: point data_dir elsewhere',
  EACCES: "the node's user may not write there: give it the folder (chown) or point data_dir elsewhere",
  EROFS: 'the file system is read-only: point data_dir at a writable one',
}

/** What an operator does about a socket error when binding a listen address. */
const LISTEN_FIXES: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the port is in use by another program (another fwmesh node?): stop it or choose another port',
  EADDRNOTAVAIL: 'that address is not one of this machine: use one of its addresses, or 0.0.0.0',
  EACCES: 'binding it needs privileges (ports below 1024): choose a port from 1024 up',
}

/** One sentence for a failure to listen on `address`: the error code and the fix. */
export function listenFailure(address: string, cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException).code
  const fix = code ? LISTEN_FIXES[code] : undefined
  return `cannot listen on ${address} (${code ?? (cause as Error).message})${fix ? `: ${fix}` : ''}`
}

/**
 * libp2p's error when a listen address fails lists each address and its error on lines of its
 * own ("  /ip4/127.0.0.1/tcp/4001: Error: listen EADDRINUSE: ..."); this names the first.
 */
export function libp2pListenFailure(message: string): string {
  const line = /^\s*(\/\S+): .*?\b(E[A-Z]+)\b/m.exec(message)
  if (!line) return `cannot listen: ${message.split('\n')[0]}`
  return listenFailure(line[1]!, { code: line[2] })
}

/**
 * What a running node is made of, named: `Node.start` builds each part in dependency order and
 * hands them over in one object (a constructor of fourteen positional parts invited mix-ups).
 * The parts others read are the node's public fields; three only the node itself uses.
 */
type NodeParts = Pick<
  Node,
  | 'config'
  | 'keys'
  | 'genesis'
  | 'store'
  | 'host'
  | 'ledger'
  | 'gossip'
  | 'transfer'
  | 'agent'
  | 'log'
  | 'progress'
> & {
  /** The validators' direct channels; null on a follower. */
  readonly channels: ValidatorChannels | null
  readonly api: { port: number; close(): Promise<void> }
  /** Runs a full GC when garbage piles up, and after a download (memory-watch.ts). */
  readonly memory: MemoryWatch
  /** The clock every part of the node reads the time from (clock.ts). */
  readonly clock: Clock
}

/**
 * One fwmesh node: the only place that puts together libp2p, the data directory and the
 * cores. Start it with a config; stop it with `stop()` (SIGTERM does that in `fwmesh node`),
 * which finishes every queued output (a safety record, a committed block) before closing.
 */
export class Node {
  // Uptime is elapsed time: a step of the wall clock must not add years to it.
  private readonly startedAt = monotonicClock.now()
  private stopping: Promise<void> | null = null
  readonly config: NodeConfig
  readonly keys: KeyPair
  readonly genesis: Genesis
  readonly store: LedgerStore
  readonly host: Host
  readonly ledger: LedgerDriver
  readonly gossip: Gossip
  private readonly channels: NodeParts['channels']
  private readonly api: NodeParts['api']
  readonly transfer: TransferService
  /** The device agent; null unless the config has a device section. */
  readonly agent: AgentDriver | null
  readonly log: Logger
  private readonly memory: NodeParts['memory']
  /** Devices' gossiped progress on releases, newest per device (progress-gossip.ts). */
  readonly progress: RolloutProgress
  private readonly clock: Clock

  private constructor(parts: NodeParts) {
    this.config = parts.config
    this.keys = parts.keys
    this.genesis = parts.genesis
    this.store = parts.store
    this.host = parts.host
    this.ledger = parts.ledger
    this.gossip = parts.gossip
    this.channels = parts.channels
    this.api = parts.api
    this.transfer = parts.transfer
    this.agent = parts.agent
    this.log = parts.log
    this.memory = parts.memory
    this.progress = parts.progress
    this.clock = parts.clock
  }

  static async start(
    config: NodeConfig,
    options: {
      log?: Logger
      /** How the device agent measures free disk space (tests hand in a small disk). */
      freeSpace?: FreeSpace
      /**
       * The wall clock every driver and service of the node reads (the ledger, the agent, the
       * transfers, the connector, progress gossip, status and metrics); the system clock by
       * default. Elapsed-time deadlines (chunk frames, install timeouts, uptime) stay monotonic.
       */
      clock?: Clock
    } = {},
  ): Promise<Node> {
    const log = options.log ?? makeLogger(config.log.level)
    const clock = options.clock ?? systemClock
    const layout = dataLayout(config.dataDir)
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 })
      .then(() => mkdir(layout.images, { recursive: true }))
      .catch((cause: NodeJS.ErrnoException) => {
        throw new StartError(
          `data_dir ${config.dataDir}: cannot use it as the node's data directory (${cause.code ?? cause.message}): ${DATA_DIR_FIXES[cause.code ?? ''] ?? 'check the path and its permissions'}`,
        )
      })

    const genesisText = await readFile(config.genesisPath, 'utf8').catch((cause: Error) => {
      throw new StartError(`cannot read the genesis file ${config.genesisPath}: ${cause.message}`)
    })
    const parsed = parseGenesis(genesisText)
    if (!parsed.ok) throw new StartError(`${config.genesisPath}: ${parsed.error.message}`)
    const genesis = parsed.value

    const keys = await loadOrCreateKey(config.keyPath, log)
    const validatorIndex = genesis.validators.findIndex((v) => toHex(v.publicKey) === toHex(keys.publicKey))
    if (config.role === 'validator' && validatorIndex < 0) {
      throw new StartError(
        `role is "validator", but this node's key (${didFromPublicKey(keys.publicKey)}) is not a validator in genesis`,
      )
    }

    const heartbeatMs = genesis.params.emptyBlockIntervalMs
    const maxChainAgeMs = config.ledger.maxChainAgeMs ?? MAX_CHAIN_AGE_HEARTBEATS * heartbeatMs
    if (maxChainAgeMs <= heartbeatMs) {
      throw new StartError(
        `ledger.max_chain_age (${maxChainAgeMs} ms) must be longer than the chain's heartbeat interval (genesis params.emptyBlockIntervalMs, ${heartbeatMs} ms), or the chain would look stale between two heartbeats`,
      )
    }
    const token = config.api.tokenFile ? await readApiToken(config.api.tokenFile) : null

    const bootstrap = parseBootstrapList(config.network.bootstrap)
    if (!bootstrap.ok) throw new StartError(`network.bootstrap: ${bootstrap.error}`)

    // The API binds first, before the ledger opens or libp2p starts: a taken port stops the
    // node before it has joined consensus or the mesh, not after (it answers 503 until ready).
    const node: { current?: Node } = {}
    const api = await startApi(
      apiHandlers(() => node.current!),
      config.api.host,
      config.api.port,
      { allowedHosts: config.api.allowedHosts, token, ready: () => node.current !== undefined },
    ).catch((cause: unknown) => {
      if (cause instanceof ApiStartError) throw new StartError(cause.message)
      throw new StartError(
        `api.listen: ${listenFailure(`${config.api.host}:${config.api.port}`, cause)}`,
        'listen',
      )
    })

    // A follower's ledger is a copy it can pull again from any neighbour: it is not fsynced per
    // block. A power cut may lose its last blocks (LevelDB keeps what it has consistent, and the
    // store checks the chain on open); the node syncs them again on its next start. Fsyncing
    // each block delayed every follower's view of each block, and so its agent's decisions, by
    // the disk's fsync latency (0.2-1.3 s while a fleet of 20 nodes wrote on one disk in the
    // swarm benchmark). Validators keep fsyncing: what they commit they have promised.
    const opened = await LevelLedgerStore.open(layout.ledger, genesis, {
      durable: config.role === 'validator',
    })
    if (!opened.ok) {
      await api.close()
      const e = opened.error
      // A block, a certificate or a state record that fails verification: never serve it.
      if (e.code === 'corrupt' || e.code === 'corrupt-state')
        throw new StartError(`the ledger is corrupt at height ${e.height}: ${e.message}`, 'ledger-corrupt')
      throw new StartError(e.message)
    }
    const store = opened.value

    let host: Host | undefined
    // What has started so far, stopped in reverse when a later step fails: a node that cannot
    // start must exit, not keep half of itself running (consensus timers, transfers, the agent).
    const started: Array<() => unknown> = [() => api.close()]
    try {
      host = await createHost({
        keys,
        listen: config.network.listen,
        bootstrap: config.network.bootstrap,
        mdns: config.network.mdns,
        chainId: genesis.chainId,
        deferConnector: true,
        targetConnections: config.network.targetConnections,
        maxConnections: config.network.maxConnections,
        onDiscoveryDialError: (peer, error, retryInMs) =>
          log.debug({ peer, err: error.message, retryInMs }, 'could not dial a peer; will retry'),
        clock,
      })
      const ids = protocolIds(genesis.chainId)
      await host.handle(ids.sync, syncHandler(store, log.child({ sub: 'sync' })), { maxInboundStreams: 16 })
      const liveHost = host
      const syncFrom = async (peer: string, height: number, count: number) => {
        try {
          const r = await requestSync(liveHost, ids.sync, toPeerId(peer), height, count)
          if (!r.ok) log.warn({ peer, err: r.error }, 'a peer answered sync badly')
          return r.ok ? r.blocks : null
        } catch (cause) {
          log.debug({ peer, err: (cause as Error).message }, 'sync request failed')
          return null
        }
      }

      let channels: ValidatorChannels | null = null
      let ledger: LedgerDriver
      if (config.role === 'validator') {
        let deliver: (from: number, msg: Parameters<LedgerDriver['handleValidatorMessage']>[1]) => void =
          () => {}
        channels = new ValidatorChannels(
          host,
          ids.pbft,
          genesis,
          validatorIndex,
          (from, msg) => deliver(from, msg),
          log.child({ sub: 'pbft' }),
        )
        await channels.start()
        const startedChannels = channels
        started.push(() => startedChannels.stop())
        ledger = await LedgerDriver.validator({
          store,
          index: validatorIndex,
          secretKey: keys.secretKey,
          channels,
          syncFrom,
          log: log.child({ sub: 'consensus' }),
          maxChainAgeMs,
          clock,
        })
        const driver = ledger
        deliver = (from, msg) => driver.handleValidatorMessage(from, msg)
        channels.knownTx = (envelope) => driver.knownTx(envelope)
      } else {
        ledger = await LedgerDriver.follower({
          store,
          syncFrom,
          log: log.child({ sub: 'follower' }),
          maxChainAgeMs,
          clock,
        })
      }

      const progress = new RolloutProgress(
        genesis.chainId,
        (device) => ledger.ledger.device(device) !== undefined,
        log.child({ sub: 'progress' }),
        clock,
      )
      const gossip = new Gossip(
        host,
        genesis.chainId,
        {
          onTx: (_from, tx) => ledger.gossipTx(tx),
          onBlock: (from, block, cert) => ledger.gossipBlock(from, block, cert),
          onProgress: (from, data) => progress.judge(from, data),
        },
        log.child({ sub: 'gossip' }),
      )
      const startedLedger = ledger
      started.push(() => startedLedger.stop())
      gossip.start()
      started.push(() => gossip.stop())
      if (channels) ledger.on('committed', (block, cert) => void gossip.announceBlock(block, cert))

      // Pull from every peer we connect to: gossip alone can lose blocks (FACTS.md).
      host.addEventListener('peer:connect', (event) => {
        ledger.handlePeerHead(event.detail.toString(), Number.MAX_SAFE_INTEGER)
      })

      const memory = new MemoryWatch()
      const transfer = new TransferService(
        host,
        genesis.chainId,
        layout.images,
        config.bandwidth,
        log.child({ sub: 'transfer' }),
        memory,
        clock,
      )
      await transfer.start()
      started.push(() => transfer.stop())
      // A published image is seeded once its release commits, never before (image-import.ts).
      const committedManifests = new Set([...ledger.ledger.releases.entries()].map(([, r]) => r.manifest))
      await transfer.staging.restore((manifest) => committedManifests.has(manifest))
      ledger.on('certified', (block) => {
        for (const tx of block.txs)
          if (tx.body.type === 'release.publish') void transfer.staging.promote(cidToString(tx.body.manifest))
      })
      const agent = config.device
        ? await AgentDriver.start({
            config: config.device,
            keys,
            statePath: layout.agentState,
            ledger,
            gossip,
            images: transfer,
            log: log.child({ sub: 'agent' }),
            maxChainAgeMs,
            clock,
            ...(options.freeSpace ? { freeSpace: options.freeSpace } : {}),
            progress: new ProgressPublisher(
              keys,
              genesis.chainId,
              gossip,
              progress,
              (manifest) => transfer.percentHeld(manifest),
              log.child({ sub: 'progress' }),
              clock,
            ),
          })
        : null
      if (agent) started.push(() => agent.stop())

      node.current = new Node({
        config,
        keys,
        genesis,
        store,
        host,
        ledger,
        gossip,
        channels,
        api,
        transfer,
        agent,
        log,
        memory,
        progress,
        clock,
      })
      memory.start()
      started.push(() => memory.stop())
      // Only now that every protocol and listener is in place: dial bootstrap and known peers.
      await host.connector.start()
      log.info(
        {
          did: didFromPublicKey(keys.publicKey),
          peer: host.peerId.toString(),
          role: config.role,
          chain: genesis.chainId,
          head: store.head.height,
          listen: host.getMultiaddrs().map((a) => a.toString()),
          api: `${config.api.host}:${api.port}`,
        },
        'node started',
      )
      return node.current
    } catch (cause) {
      for (const stop of started.reverse()) await Promise.resolve(stop()).catch(() => {})
      await Promise.resolve(host?.stop()).catch(() => {})
      await store.close()
      if (cause instanceof Error && cause.name === 'UnsupportedListenAddressesError')
        throw new StartError(`network.listen: ${libp2pListenFailure(cause.message)}`, 'listen')
      throw cause
    }
  }

  /** Whether `stop()` has begun: background work ends then. */
  get isStopping(): boolean {
    return this.stopping !== null
  }

  get apiPort(): number {
    return this.api.port
  }

  get did(): string {
    return didFromPublicKey(this.keys.publicKey)
  }

  addresses(): string[] {
    return this.host.getMultiaddrs().map((a) => a.toString())
  }

  status() {
    const now = this.clock.now()
    const head = this.ledger.ledger.head
    return {
      did: this.did,
      peerId: this.host.peerId.toString(),
      role: this.config.role,
      chain: this.genesis.chainId,
      genesis: genesisId(this.genesis).toString(),
      head: { height: head.height, hash: head.hash, time: head.time },
      // Live: the head block is at most max_chain_age old (`fwmesh status` exits 7 otherwise).
      live: this.ledger.isLive(now),
      chainAgeSeconds: this.ledger.chainAgeMs(now) / 1000,
      maxChainAgeSeconds: this.ledger.maxChainAgeMs / 1000,
      view: this.ledger.view,
      peers: this.host.getPeers().length,
      addresses: this.addresses(),
      uptimeSeconds: Math.round((monotonicClock.now() - this.startedAt) / 1000),
      rejections: this.ledger.recentRejections(),
      gossip: this.gossip.stats(),
      device: this.agent?.status() ?? null,
    }
  }

  /**
   * How far a release has rolled out (rollout-view.ts): the ledger's devices and the release's
   * committed install reports, with the progress devices gossiped. Undefined for no such release.
   */
  async rollout(id: string, now = this.clock.now()): Promise<RolloutView | undefined> {
    const release = this.ledger.ledger.release(id)
    if (!release) return undefined
    const rows = await this.store.audit('release', id)
    const reports: RolloutReport[] = []
    for (const row of rows) {
      const body = row.tx.body
      if (body.type !== 'install.report') continue
      reports.push({
        device: toHex(body.device),
        status: body.status,
        ...(body.detail === undefined ? {} : { detail: body.detail }),
      })
    }
    return rolloutView({
      release,
      devices: [...this.ledger.ledger.devices.entries()].map(([, d]) => d),
      reports,
      progress: (device) => this.progress.table.get(id, device),
      now,
    })
  }

  /**
   * `fwmesh_rollout_devices{release,state}`: eligible devices per state of the newest releases
   * that are installable and not installed by every eligible device (ROLLOUT_METRICS_RELEASES_MAX).
   */
  private async rolloutMetrics(): Promise<Parameters<typeof prometheus>[0]> {
    const candidates = [...this.ledger.ledger.releases.entries()]
      .map(([, r]) => r)
      .filter(isInstallable)
      .sort((a, b) => b.publishedAt - a.publishedAt)
    const out: Array<Parameters<typeof prometheus>[0][number]> = []
    let shown = 0
    for (const r of candidates) {
      if (shown >= ROLLOUT_METRICS_RELEASES_MAX) break
      const view = await this.rollout(r.id)
      if (!view || view.counts.confirmed === view.eligible) continue
      shown++
      for (const state of ROLLOUT_STATES)
        out.push({
          name: 'fwmesh_rollout_devices',
          help: 'Eligible devices per rollout state, for installable releases not yet confirmed everywhere',
          type: 'gauge',
          value: view.counts[state],
          labels: { release: r.id, state },
        })
    }
    return out
  }

  async metrics(): Promise<string> {
    const head = this.ledger.ledger.head
    const rollouts = await this.rolloutMetrics()
    return prometheus([
      {
        name: 'fwmesh_head_height',
        help: 'Height of the committed head block',
        type: 'gauge',
        value: head.height,
      },
      {
        name: 'fwmesh_head_age_seconds',
        help: 'Seconds since the head block was made',
        type: 'gauge',
        value: (this.clock.now() - head.time) / 1000,
      },
      {
        name: 'fwmesh_chain_age_seconds',
        help: 'Age of the newest block by its signed time; over fwmesh_max_chain_age_seconds no download or install starts',
        type: 'gauge',
        value: this.ledger.chainAgeMs(this.clock.now()) / 1000,
      },
      {
        name: 'fwmesh_max_chain_age_seconds',
        help: 'The configured max_chain_age',
        type: 'gauge',
        value: this.ledger.maxChainAgeMs / 1000,
      },
      { name: 'fwmesh_peers', help: 'Connected peers', type: 'gauge', value: this.host.getPeers().length },
      {
        name: 'fwmesh_live',
        help: '1 while the newest block is at most max_chain_age old',
        type: 'gauge',
        value: this.ledger.isLive(this.clock.now()) ? 1 : 0,
      },
      {
        name: 'fwmesh_rejected_transactions',
        help: 'Recently rejected local transactions',
        type: 'gauge',
        value: this.ledger.recentRejections().length,
      },
      ...trafficMetrics(this.transfer.traffic()),
      ...imageBytesMetrics(this.transfer.imageBytes),
      ...rollouts,
      ...gossipMetrics(this.gossip, this.ledger),
      ...processMetrics(),
      {
        name: 'fwmesh_memory_collections_total',
        help: 'Full garbage collections the node ran: garbage piled up, a download ended, or it turned idle',
        type: 'counter',
        value: this.memory.collected,
      },
    ])
  }

  /** Stops the node: API, gossip, consensus outputs (finished, not dropped), libp2p, store. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('stopping')
      this.memory.stop()
      await this.api.close()
      await this.agent?.stop()
      await this.transfer.stop()
      this.gossip.stop()
      await this.ledger.stop()
      await this.channels?.stop()
      await this.host.stop()
      await this.store.close()
      this.log.info('stopped')
    })()
    return this.stopping
  }
}

/** Gossip messages by topic and verdict, and the bytes of blocks held ahead of the head. */
function gossipMetrics(gossip: Gossip, ledger: LedgerDriver): Parameters<typeof prometheus>[0] {
  const out: Array<Parameters<typeof prometheus>[0][number]> = []
  for (const topic of ['block', 'tx', 'progress'] as const) {
    for (const verdict of ['accepted', 'ignored', 'rejected'] as const) {
      out.push({
        name: 'fwmesh_gossip_messages_total',
        help: 'Gossip messages validated, by topic and verdict (rejected ones count against their sender)',
        type: 'counter',
        value: gossip.counts[topic][verdict],
        labels: { topic, verdict },
      })
    }
  }
  out.push({
    name: 'fwmesh_blocks_ahead_bytes',
    help: 'Bytes of certified blocks held ahead of the head while the gap is fetched',
    type: 'gauge',
    value: ledger.pendingBytes,
  })
  return out
}

/** What the node moved on the chunk protocol: messages and bytes, each way. */
function trafficMetrics(t: Readonly<ChunkTraffic>): Parameters<typeof prometheus>[0] {
  const counter = (name: string, help: string, value: number) =>
    ({ name, help, type: 'counter', value }) as const
  return [
    counter('fwmesh_chunk_messages_sent_total', 'Chunk-protocol messages sent to neighbours', t.messagesSent),
    counter('fwmesh_chunk_messages_received_total', 'Chunk-protocol messages received', t.messagesReceived),
    counter('fwmesh_chunk_bytes_sent_total', 'Bytes of chunk-protocol messages sent', t.bytesSent),
    counter(
      'fwmesh_chunk_bytes_received_total',
      'Bytes of chunk-protocol messages received',
      t.bytesReceived,
    ),
  ]
}

/** Image bytes by direction and source (transfer-service.ts says what each counts). */
function imageBytesMetrics(b: TransferService['imageBytes']): Parameters<typeof prometheus>[0] {
  const help = 'Image bytes moved: up as the origin of an image or as a peer that fetched it, down from peers'
  return (
    [
      ['up', 'origin', b.upOrigin],
      ['up', 'peer', b.upPeer],
      ['down', 'peer', b.down],
    ] as const
  ).map(([direction, source, value]) => ({
    name: 'fwmesh_image_bytes_total',
    help,
    type: 'counter' as const,
    value,
    labels: { direction, source },
  }))
}

/** The process's memory, so an operator sees what a node costs (and the heap tuning hold). */
function processMetrics(): Parameters<typeof prometheus>[0] {
  const m = process.memoryUsage()
  const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0
  return [
    {
      name: 'fwmesh_process_resident_memory_bytes',
      help: 'Resident memory of the node process',
      type: 'gauge',
      value: m.rss,
    },
    { name: 'fwmesh_heap_used_bytes', help: 'V8 heap in use', type: 'gauge', value: m.heapUsed },
    { name: 'fwmesh_heap_total_bytes', help: 'V8 heap reserved', type: 'gauge', value: m.heapTotal },
    {
      name: 'fwmesh_young_generation_bytes',
      help: 'V8 young generation (both semi-spaces)',
      type: 'gauge',
      value: young,
    },
    {
      name: 'fwmesh_array_buffers_bytes',
      help: 'Memory of ArrayBuffers (chunk data, socket buffers), live or not yet collected',
      type: 'gauge',
      value: m.arrayBuffers,
    },
  ]
}

/** The API's bearer token, from api.token_file: one line of API_TOKEN_LENGTH_MIN.. characters. */
async function readApiToken(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch((cause: Error) => {
    throw new StartError(`api.token_file: cannot read ${path}: ${cause.message}`)
  })
  const token = text.trim()
  if (token.length < API_TOKEN_LENGTH_MIN || token.length > API_TOKEN_LENGTH_MAX || /\s/.test(token))
    throw new StartError(
      `api.token_file: ${path} must hold one token of ${API_TOKEN_LENGTH_MIN} to ${API_TOKEN_LENGTH_MAX} characters without spaces (it has ${token.length}); make one with \`openssl rand -hex 32\``,
    )
  return token
}

async function loadOrCreateKey(path: string, log: Logger): Promise<KeyPair> {
  const read = await readKeyFile(path)
  if (read.ok) return read.value
  if (read.error.code !== 'not-found') throw new StartError(read.error.message)
  const keys = generateKeyPair()
  const written = await writeKeyFile(path, keys)
  if (!written.ok) throw new StartError(written.error.message)
  log.info({ did: didFromPublicKey(keys.publicKey), path }, 'created a new node key')
  return keys
}

function releaseView(r: ReleaseRecord) {
  return {
    id: r.id,
    product: r.product,
    channel: r.channel,
    version: r.version,
    hardware: r.hardware,
    imageSize: r.imageSize,
    imageSha256: toHex(r.imageSha256),
    manifest: r.manifest,
    chunkSize: r.chunkSize,
    rollout: r.rollout,
    minFrom: r.minFrom,
    publisher: didFromPublicKey(r.publisher),
    publishedAt: r.publishedAt,
    approvals: r.approvals,
    approvedAt: r.approvedAt,
    revoked: r.revoked ? { ...r.revoked, by: didFromPublicKey(r.revoked.by) } : null,
    installable: isInstallable(r),
    tags: r.tags ?? [],
    paused: r.paused ? { ...r.paused, by: didFromPublicKey(r.paused.by) } : null,
    aborted: r.aborted ? { ...r.aborted, by: didFromPublicKey(r.aborted.by) } : null,
    halted: r.halted ?? null,
    failures: r.failures ?? 0,
  }
}

const AUDIT_INDEXES: readonly AuditIndex[] = ['device', 'release', 'product', 'signer']

function malformedTx(why: string): ApiResult<never> {
  return {
    ok: false,
    error: { status: 400, code: 'tx.malformed', message: `not a valid transaction: ${why}` },
  }
}

function refused(rejection: { code: string; message: string }): ApiResult<never> {
  return { ok: false, error: { status: 422, code: rejection.code, message: rejection.message } }
}

/** A release.publish envelope, or the 400 answer to anything else. */
function decodePublish(envelope: Uint8Array): ApiResult<SignedTx & { body: TxOf<'release.publish'> }> {
  const decoded = decodeTx(envelope)
  if (!decoded.ok) return malformedTx(decoded.error.message)
  const tx = decoded.value
  if (tx.body.type !== 'release.publish')
    return malformedTx(`expected a release.publish transaction, not ${tx.body.type}`)
  return { ok: true, value: tx as SignedTx & { body: TxOf<'release.publish'> } }
}

/** A release whose image no manifest a device accepts can describe (400), or undefined. */
function chunkingRefusal(body: { imageSize: number; chunkSize: number }): ApiResult<never> | undefined {
  const fault = chunkingFault(body.imageSize, body.chunkSize)
  if (!fault) return undefined
  return {
    ok: false,
    error: { status: 400, code: 'image.bad-chunking', message: `the release's image: ${fault.message}` },
  }
}

/** Why a published image was not staged, as the API answers it. */
function stageFailure(staged: Extract<StageResult, { ok: false }>): ApiResult<never> {
  const status = (
    {
      busy: 503,
      conflict: 409,
      'too-large': 413,
      io: 503,
      truncated: 400,
      mismatch: 400,
      'bad-chunking': 400,
    } as const
  )[staged.code]
  return { ok: false, error: { status, code: `image.${staged.code}`, message: staged.message } }
}

/**
 * Submits a transaction (refused at once with the ledger's reason) and waits up to `waitMs`
 * for its commit. A validator's replica relays transactions to the other validators itself;
 * a follower reaches them by gossip.
 */
async function submitAndWait(n: Node, tx: SignedTx, waitMs: number): Promise<TxOutcome> {
  const outcome = n.ledger.submit(tx, 'local')
  if (outcome.status === 'rejected') return outcome
  if (outcome.status === 'pending' && !n.ledger.isValidator)
    await n.gossip.publishTxUntilSent(tx, () => n.isStopping || n.ledger.ledger.txs.has(tx.idString))
  return outcome.status === 'committed' || waitMs === 0
    ? outcome
    : n.ledger.waitForCommit(tx.idString, waitMs)
}

function apiHandlers(node: () => Node): NodeApiHandlers {
  const notFound = (message: string): ApiResult<never> => ({
    ok: false,
    error: { status: 404, code: 'not-found', message },
  })
  return {
    status: () => node().status(),
    peers: () =>
      node()
        .host.getConnections()
        .map((c) => ({ peer: c.remotePeer.toString(), address: c.remoteAddr.toString() })),
    releases: async (product) => {
      const releases = [...node().ledger.ledger.releases.entries()]
        .map(([, r]) => r)
        .filter((r) => product === undefined || r.product === product)
      releases.sort((a, b) => a.publishedAt - b.publishedAt)
      return releases.map(releaseView)
    },
    release: async (id) => {
      const r = node().ledger.ledger.release(id)
      if (!r) return notFound(`no release ${id} on the ledger`)
      const rows = await node().store.audit('release', id)
      const approvals = rows
        .filter((row) => row.tx.body.type === 'release.approve')
        .map((row) => ({
          approver: didFromPublicKey(row.tx.body.signer),
          height: row.height,
          time: row.time,
        }))
      return { ok: true, value: { ...releaseView(r), approvers: approvals } }
    },
    devices: async () =>
      [...node().ledger.ledger.devices.entries()].map(([, d]) => ({
        did: didFromPublicKey(d.publicKey),
        product: d.product,
        hardware: d.hardware,
        groups: d.groups,
        registeredAt: d.registeredAt,
        installed: d.installed,
      })),
    roles: async () =>
      [...node().ledger.ledger.roles.entries()]
        .map(([, r]) => ({
          role: r.role,
          did: didFromPublicKey(r.subject),
          products: r.products,
          grantedAt: r.grantedAt,
        }))
        .sort((a, b) => a.grantedAt - b.grantedAt || (a.role < b.role ? -1 : a.role > b.role ? 1 : 0)),
    audit: async (index, key) => {
      if (!AUDIT_INDEXES.includes(index as AuditIndex))
        return notFound(`no audit index "${index}"; use ${AUDIT_INDEXES.join(', ')}`)
      const rows = await node().store.audit(index as AuditIndex, key)
      return {
        ok: true,
        value: rows.map((row) => {
          // The body's fields, then where it is on the ledger. An install report's own `time`
          // (the device's clock) becomes `reportedTime`: `time` is the block's, the ledger's.
          const { time: reportedTime, ...body } = txBodyJson(row.tx.body)
          return {
            ...body,
            ...(reportedTime === undefined ? {} : { reportedTime }),
            height: row.height,
            index: row.index,
            time: row.time,
            id: row.tx.idString,
          }
        }),
      }
    },
    rollout: async (id) => {
      const view = await node().rollout(id)
      return view ? { ok: true, value: view } : notFound(`no release ${id} on the ledger`)
    },
    downloads: () => node().transfer.downloads(),
    submitTx: async (envelope, options) => {
      const decoded = decodeTx(envelope)
      if (!decoded.ok) return malformedTx(decoded.error.message)
      const tx = decoded.value
      const outcome = await submitAndWait(node(), tx, options.waitMs)
      if (outcome.status === 'rejected') return refused(outcome.rejection)
      return { ok: true, value: { id: tx.idString, ...outcome } }
    },
    checkPublish: async (envelope) => {
      const decoded = decodePublish(envelope)
      if (!decoded.ok) return decoded
      const tx = decoded.value
      const rejection = node().ledger.check(tx, 'local')
      if (rejection) return refused(rejection)
      const chunking = chunkingRefusal(tx.body)
      if (chunking) return chunking
      return { ok: true, value: { ok: true } }
    },
    publishRelease: async (envelope, image, options) => {
      const decoded = decodePublish(envelope)
      if (!decoded.ok) return decoded
      const tx = decoded.value
      const body = tx.body
      const n = node()
      // Role, version order, hardware and size first: a release the ledger refuses is not read.
      const rejection = n.ledger.check(tx, 'local')
      if (rejection) return refused(rejection)
      const chunking = chunkingRefusal(body)
      if (chunking) return chunking
      if (options.declaredBytes !== null && options.declaredBytes !== body.imageSize) {
        const message = `the request has ${options.declaredBytes} bytes; the release says the image has ${body.imageSize}`
        return { ok: false, error: { status: 400, code: 'image.size', message } }
      }
      const key = cidToString(body.manifest)
      const staged = await n.transfer.staging.stage(
        {
          manifest: body.manifest,
          imageSize: body.imageSize,
          chunkSize: body.chunkSize,
          imageSha256: body.imageSha256,
        },
        image,
      )
      if (!staged.ok) return stageFailure(staged)
      const outcome = await submitAndWait(n, tx, options.waitMs)
      if (outcome.status === 'rejected') {
        // Refused after all (the state moved on since the check): the image goes, unseeded.
        if (staged.fresh) await n.transfer.staging.discard(key)
        return refused(outcome.rejection)
      }
      // A pending release is seeded when it commits (Node.start's 'certified' listener).
      if (outcome.status === 'committed') await n.transfer.staging.promote(key)
      return { ok: true, value: { id: tx.idString, ...outcome, manifest: key, chunks: staged.chunks } }
    },
    metrics: () => node().metrics(),
  }
}
