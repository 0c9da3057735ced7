import {
  type AgentOutput,
  DeviceAgent,
  type LedgerView,
  registrationOf,
  rolloutBucket as rolloutBucketOf,
} from '../../src/agent/index.js'
import { assert } from '../../src/codec/assert.js'
import { utf8 } from '../../src/codec/bytes.js'
import { type CID, parseCid } from '../../src/codec/cid.js'
import { sha256 } from '../../src/codec/hash.js'
import type { CertifiedBlock } from '../../src/consensus/messages.js'
import { HAVE_UPDATE_INTERVAL_MS } from '../../src/constants.js'
import type { KeyPair } from '../../src/crypto/ed25519.js'
import { setVerifyMemo, VerifyMemo } from '../../src/crypto/ed25519.js'
import type { Block } from '../../src/ledger/block.js'
import { type Certificate, certify } from '../../src/ledger/certificate.js'
import { type DevChain, makeDevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import { quorumSize } from '../../src/ledger/genesis.js'
import { compareVersions } from '../../src/ledger/semver.js'
import { isInstallable, LedgerState, type ReleaseRecord } from '../../src/ledger/state.js'
import { type RolloutPlan, type SignedTx, signTx, type TxBody } from '../../src/ledger/tx.js'
import { buildBlock } from '../../src/ledger/verify-block.js'
import { Prng } from '../../src/prng.js'
import { fullBitfield } from '../../src/transfer/bitfield.js'
import { type PeerRef, type SessionOutput, TransferSession } from '../../src/transfer/session.js'
import { EventQueue, KIND_CLOSURE } from '../event-queue.js'
import { Committee } from './committee.js'
import {
  type BandwidthClass,
  CONFIRM_MS,
  EVENTS_PER_DEVICE_CHUNK_MAX,
  GOSSIP_HEARTBEAT_MS,
  GOSSIP_HOP_MS,
  HAVE_BATCH_MS,
  INSTALL_MS,
  INTER_REGION_MS,
  INTRA_REGION_MS,
  ORIGIN_NEIGHBOURS,
  OVERLAY_DIALS_PER_DEVICE,
  QUEUE_EVENTS_PER_DEVICE_MAX,
  REGIONS,
  SIM_TIME_MAX_MS,
  VERIFY_MEMO_MAX,
  VERIFY_MS_PER_BYTE,
} from './constants.js'
import { cpuMsPerByte, SharedCpu } from './cpu.js'
import { FleetMeter } from './meter.js'
import { fleetResult } from './result.js'
import { distances, type Graph, gossipMesh, overlayGraph } from './topology.js'
import type { FleetOptions, FleetResult } from './types.js'

/**
 * The fleet simulator: thousands of devices, an origin and a validator committee in one
 * process, on virtual time, running the real cores.
 *
 * - Validators: the real `Replica` (committee.ts), with mempools and batching; devices'
 *   install reports reach every validator's mempool by gossip.
 * - Ledger following: the real `Follower` verifies every block once; devices receive its
 *   result when the block's gossip reaches them (see committee.ts for why that is exact).
 * - Devices: the real `DeviceAgent` decides (fetch, verify, install, report); reports are
 *   real `install.report` transactions signed with the device's ed25519 key.
 * - Transfer: every node runs the real `TransferSession` (src/transfer/session.ts), the core
 *   the libp2p node drives too: its `SwarmScheduler` downloads from neighbours, its
 *   `UploadQueue` serves them, its `SeedPolicy` makes the origin super-seed, and it decides
 *   what is told, announced and refused. Chunk bytes are modelled: a delivery carries a
 *   verdict (malicious devices' chunks fail their hash).
 *
 * Network model:
 * - Every node has an upload and a download capacity. A node's uplink sends one chunk at a
 *   time at full rate, taking turns between requesters (UploadQueue's round robin), which
 *   over a few chunks is fair sharing of the uplink; a chunk then crosses the link's latency
 *   and queues for the receiver's downlink, the second serialisation stage, which shares the
 *   downlink among senders in arrival order. So a transfer runs at the smaller of the two
 *   shares, with O(1) events per chunk (request, upload done, delivery).
 * - Per-link one-way latency: both access links (per bandwidth class) plus the distance
 *   between the two nodes' regions. Control messages may be lost (`loss`).
 * - Churn (a device disconnects: its links drop, it rejoins later and reconnects), regional
 *   partitions (links across the cut drop, and re-form at the heal), a validator crash.
 * - Gossip (announcements: committed blocks; and transactions): gossipsub's mesh with D=6,
 *   D_lo=4, D_hi=12; a message reaches a node after the shortest path of link latencies plus
 *   a per-hop forwarding time. The mesh is repaired every heartbeat (1 s): routes are
 *   recomputed then, and nodes that missed messages (offline, partitioned) catch up by sync.
 *
 * Everything is drawn from a PRNG seeded by `seed`: a run is a pure function of its options.
 */

export type {
  DeviceCapacity,
  FleetDetails,
  FleetOptions,
  FleetProgress,
  FleetResult,
  FleetSeries,
  Percentiles,
} from './types.js'

// Event kinds of the hot path (KIND_CLOSURE = 0 runs a closure).
const K_REQUEST = 1
const K_UPLOAD_DONE = 2
const K_DELIVER = 3
const K_CANCEL = 4
const K_NOT_FOUND = 5
const K_TICK = 6
const K_FLUSH = 7
/** The two tiers of have-updates a K_FLUSH event sends (its `b`; bits of flushPending). */
const FLUSH_COMPLETE_HOLDERS = 1
const FLUSH_ALL = 2
/** A chunk has come down x's link and waits for x's CPU (the `shared` CPU model only). */
const K_ARRIVE = 8

const PRODUCT = 'fleet-gw'
const HARDWARE = 'gw-a'
const RUNNING_VERSION = '1.0.0'
const RELEASE_VERSION = '2.0.0'
/** The publisher submits the release this long after the start (the committee has settled). */
const PUBLISH_AFTER_MS = 1_000
/** Events between progress callbacks. */
const PROGRESS_EVERY_EVENTS = 1 << 16

/** Simulated chain parameters: the real block interval; empty blocks every 5 s keep it live. */
const FLEET_CHAIN_PARAMS = { blockIntervalMs: 500, emptyBlockIntervalMs: 5_000 } as const

interface PendingTx {
  readonly device: number
  readonly reportId: number
  /** The signed report: a resubmission is the same body, so it is signed once. */
  readonly tx: SignedTx
  /** A `confirmed` report: the one the meter times. */
  readonly confirmed: boolean
  readonly submittedAt: number
  committedHeight: number
}

interface Snapshot {
  readonly view: LedgerView
  readonly approved: boolean
}

export function runFleet(options: FleetOptions): FleetResult {
  return new Fleet(options).run()
}

class Fleet {
  private readonly o: FleetOptions
  private readonly prng: Prng
  private readonly queue: EventQueue
  private now: number
  private events = 0
  private readonly eventsMax: number
  private readonly haveBatchMs: number

  // Sizes and ids. Overlay and gossip share ids for devices (0 … n-1) and the origin (n);
  // validators are gossip nodes n+1 … n+v.
  private readonly n: number
  private readonly origin: number
  private readonly g: number
  private readonly chunkCount: number
  private readonly lastChunkBytes: number
  private readonly peerIds: string[]

  // The ledger side.
  private readonly chain: DevChain
  private readonly committee: Committee
  private readonly keys: KeyPair[]
  private readonly release: SignedTx
  private readonly releaseId: string
  private readonly releaseCid: CID
  private readonly imageSha256: Uint8Array
  private readonly snapshots: Snapshot[] = []
  private approvalAt = Number.NaN
  private readonly pendingTx = new Map<string, PendingTx>()
  private uncommittedTxs = 0
  private readonly t0: number

  // Topology.
  private readonly overlay: Graph
  private readonly mesh: Graph
  private readonly region: Uint8Array
  private readonly accessMs: Float64Array
  private readonly minNeighbourMs: Float64Array
  private readonly distV: Float64Array[]
  private readonly blockDist: Float64Array
  private gossipDirty = false
  private heartbeatPending = false
  private partitionRegion = -1

  // Per overlay node (devices and the origin).
  private readonly online: Uint8Array
  private readonly epoch: Int32Array
  private readonly malicious: Uint8Array
  /** Honest devices whose install hook fails (installFailureShare). */
  private readonly failing: Uint8Array
  /** The release record the devices' views were last sent with (a control change resends them). */
  private lastRecord: ReleaseRecord | undefined
  private readonly upMsPerByte: Float64Array
  private readonly downMsPerByte: Float64Array
  private readonly uplinkBusy: Uint8Array
  /** The chunk on each uplink, its requester and the session that queued it (uplinkBusy). */
  private readonly uplinkChunk: Int32Array
  private readonly uplinkPeer: Int32Array
  private readonly uplinkSession: (TransferSession | null)[]
  private readonly dlFreeAt: Float64Array
  /** Each node's part in the image's swarm (the real core); null until it fetches or seeds. */
  private readonly sessions: (TransferSession | null)[]
  /**
   * Per overlay edge y→x: x as y's session holds it (a PeerRef), so have-updates skip the
   * lookup by id. A stale one (x left, y's session was replaced) acts as the id.
   */
  private readonly peerRefs: (PeerRef | undefined)[]
  /** Have-update flushes scheduled (K_FLUSH) for the node's new chunks: FLUSH_* bits. */
  private readonly flushPending: Uint8Array
  /** Devices linked to the origin (they tell it of new chunks at once: scheduleFlushes). */
  private readonly originNeighbour: Uint8Array
  private readonly tickAt: Float64Array

  // Per device.
  private readonly agents: (DeviceAgent | null)[]
  private readonly agentTickAt: Float64Array
  private readonly viewIdx: Int32Array
  private readonly behind: Uint8Array
  private readonly reportsOf: PendingTx[][]
  private readonly classOf: string[]

  /** The machine all nodes share, in the `shared` CPU model (cpu.ts); null otherwise. */
  private readonly cpu: SharedCpu | null

  /** What the run measures (meter.ts); `result()` reads it. */
  private readonly meter: FleetMeter
  private finishedAt = Number.NaN
  private readonly honest: number
  private readonly violations: string[] = []

  constructor(options: FleetOptions) {
    assert(options.devices >= 2, 'a fleet has at least two devices')
    assert(options.validators >= 4, 'a committee of at least four validators')
    assert(options.chunkBytes >= 1 && options.imageBytes >= options.chunkBytes, 'an image of whole chunks')
    this.o = options
    this.haveBatchMs = options.haveBatchMs ?? HAVE_BATCH_MS
    this.prng = Prng.fromSeed(`fleet/${options.seed}`)
    const n = options.devices
    this.n = n
    this.origin = n
    this.g = n + 1 + options.validators
    this.chunkCount = Math.ceil(options.imageBytes / options.chunkBytes)
    this.lastChunkBytes = options.imageBytes - (this.chunkCount - 1) * options.chunkBytes
    this.peerIds = Array.from({ length: n + 1 }, (_, i) => String(i))
    this.eventsMax = EVENTS_PER_DEVICE_CHUNK_MAX * (n + 1) * (this.chunkCount + 16)
    this.queue = new EventQueue(
      Math.min(1 << 16, QUEUE_EVENTS_PER_DEVICE_MAX * (n + 1)),
      QUEUE_EVENTS_PER_DEVICE_MAX * (n + 1),
    )

    // ---- Keys, the fleet's registration history, the release ----
    this.chain = makeDevChain({
      seed: `fleet/${options.seed}`,
      validators: options.validators,
      params: FLEET_CHAIN_PARAMS,
    })
    this.t0 = this.chain.genesis.time
    this.now = this.t0
    this.keys = Array.from({ length: n }, (_, i) => this.chain.key(`device/${i}`))
    const factory = new TxFactory(this.chain)
    const preloaded = this.history(factory)
    this.imageSha256 = sha256(utf8(`fleet-image/${options.seed}/${options.imageBytes}`))
    // The simulated image has no chunk bytes; its chunk list's digest stands for one.
    const chunkHashesSha256 = sha256(
      utf8(`fleet-chunks/${options.seed}/${options.imageBytes}/${options.chunkBytes}`),
    )
    const rollout: RolloutPlan = {
      start: this.t0 + PUBLISH_AFTER_MS,
      waves: options.waves ?? [{ percent: 100, afterMs: 0 }],
    }
    this.release = factory.publish({
      product: PRODUCT,
      version: RELEASE_VERSION,
      hardware: [HARDWARE],
      imageSize: options.imageBytes,
      imageSha256: this.imageSha256,
      chunkHashesSha256,
      chunkSize: options.chunkBytes,
      rollout,
    })
    this.releaseId = this.release.idString
    this.releaseCid = parseCid(this.releaseId)!
    const approvals = this.chain.approvers.map((a) => factory.approve(this.release.id, a))

    // ---- Topology ----
    this.region = new Uint8Array(this.g)
    this.accessMs = new Float64Array(this.g)
    const place = this.prng.child('placement')
    this.classOf = []
    this.upMsPerByte = new Float64Array(n + 1)
    this.downMsPerByte = new Float64Array(n + 1)
    for (let i = 0; i < n; i++) {
      const c = options.capacity(i)
      this.classOf.push(c.className)
      this.upMsPerByte[i] = 8000 / c.uploadBitsPerSec
      this.downMsPerByte[i] = 8000 / c.downloadBitsPerSec
      this.accessMs[i] = c.accessMs
      this.region[i] = place.int(REGIONS)
    }
    this.upMsPerByte[n] = 8000 / options.originUploadBitsPerSec
    this.downMsPerByte[n] = this.upMsPerByte[n]!
    const cpu = options.cpu
    this.cpu = cpu?.kind === 'shared' ? new SharedCpu(cpu.cores, cpu.costs, cpu.processes) : null
    if (cpu?.kind === 'own') {
      // A core of its own: a device moving bytes both ways at once gets half the core's rate
      // each way; the origin mostly sends, and gets all of it.
      const perByte = cpuMsPerByte(cpu.costs)
      for (let i = 0; i < n; i++) {
        this.upMsPerByte[i] = Math.max(this.upMsPerByte[i]!, 2 * perByte)
        this.downMsPerByte[i] = Math.max(this.downMsPerByte[i]!, 2 * perByte)
      }
      this.upMsPerByte[n] = Math.max(this.upMsPerByte[n]!, perByte)
    }
    this.accessMs[n] = 2
    // The origin and the validators sit in region 0 (a data centre); a partition cuts another.
    for (let v = 0; v < options.validators; v++) this.accessMs[n + 1 + v] = 2
    this.overlay = overlayGraph(
      this.prng.child('overlay'),
      n,
      options.overlayDials ?? OVERLAY_DIALS_PER_DEVICE,
      ORIGIN_NEIGHBOURS,
    )
    this.mesh = gossipMesh(this.prng.child('gossip'), this.g)
    this.minNeighbourMs = new Float64Array(n + 1)
    for (let i = 0; i <= n; i++) {
      let m = Number.POSITIVE_INFINITY
      for (let k = this.overlay.start[i]!; k < this.overlay.start[i + 1]!; k++)
        m = Math.min(m, this.latency(i, this.overlay.adj[k]!))
      this.minNeighbourMs[i] = Number.isFinite(m) ? m : 0
    }
    this.distV = Array.from({ length: options.validators }, () => new Float64Array(this.g))
    this.blockDist = new Float64Array(this.g)

    // ---- Node state ----
    this.online = new Uint8Array(n + 1).fill(1)
    this.epoch = new Int32Array(n + 1)
    this.malicious = new Uint8Array(n + 1)
    const share = options.maliciousShare ?? 0
    if (share > 0) {
      const pick = this.prng.child('malicious')
      const count = Math.round(share * n)
      for (const i of pick.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, count))
        this.malicious[i] = 1
    }
    let honest = 0
    for (let i = 0; i < n; i++) if (!this.malicious[i]) honest++
    this.honest = honest
    this.failing = new Uint8Array(n)
    const failShare = options.installFailureShare ?? 0
    if (failShare > 0) {
      const pick = this.prng.child('install-failures')
      const candidates = Array.from({ length: n }, (_, i) => i).filter((i) => !this.malicious[i])
      for (const i of pick.shuffle(candidates).slice(0, Math.round(failShare * candidates.length)))
        this.failing[i] = 1
    }
    this.uplinkBusy = new Uint8Array(n + 1)
    this.uplinkChunk = new Int32Array(n + 1)
    this.uplinkPeer = new Int32Array(n + 1)
    this.uplinkSession = new Array(n + 1).fill(null)
    this.dlFreeAt = new Float64Array(n + 1)
    this.sessions = new Array(n + 1).fill(null)
    this.flushPending = new Uint8Array(n + 1)
    this.originNeighbour = new Uint8Array(n + 1)
    for (let k = this.overlay.start[n]!; k < this.overlay.start[n + 1]!; k++)
      this.originNeighbour[this.overlay.adj[k]!] = 1
    this.peerRefs = new Array(this.overlay.adj.length).fill(undefined)
    this.tickAt = new Float64Array(n + 1).fill(Number.POSITIVE_INFINITY)

    this.agents = new Array(n).fill(null)
    this.agentTickAt = new Float64Array(n).fill(Number.POSITIVE_INFINITY)
    this.viewIdx = new Int32Array(n).fill(-1)
    this.behind = new Uint8Array(n)
    this.reportsOf = Array.from({ length: n }, () => [])
    this.meter = new FleetMeter(n, this.t0)

    // ---- The committee and the shared follower ----
    this.committee = new Committee(
      this.chain,
      preloaded,
      options.consensusLimits ?? {},
      {
        now: () => this.ms(),
        at: (time, run) => this.queue.pushClosure(Math.max(time, this.now), run),
      },
      {
        onValidatorCommit: () => {},
        onFollowerCommit: (block, cert) => this.onFollowerCommit(block, cert),
        // The shared follower listens from the origin's data centre.
        latency: (a, b) => this.latency(n + 1 + a, b < 0 ? n : n + 1 + b),
      },
    )
    this.snapshots.push({ view: snapshotView(this.committee.follower.ledger), approved: false })

    for (let v = 0; v < options.validators; v++) this.committee.start(v)
    this.recomputeGossip()
    const agentPrng = this.prng.child('agents')
    for (let i = 0; i < n; i++) {
      if (this.malicious[i]) continue
      const booted = DeviceAgent.boot(
        {
          publicKey: this.keys[i]!.publicKey,
          product: PRODUCT,
          hardware: HARDWARE,
          channel: 'stable',
          window: null,
          // No fleet scenario withholds blocks; the freshness check is tested in test/agent.
          maxChainAgeMs: null,
        },
        { runningVersion: RUNNING_VERSION, now: this.t0, prng: agentPrng.child(String(i)) },
      )
      assert(booted.ok, 'a simulated device boots')
      this.agents[i] = booted.value
      this.viewIdx[i] = 0
      booted.value.handleLedger(this.snapshots[0]!.view, this.t0)
      this.runAgent(i)
    }
    // The publisher's gateway: seeds the image and submits the release and its approvals.
    this.queue.pushClosure(this.t0 + PUBLISH_AFTER_MS, () => {
      const origin = this.completeSession(this.origin)
      origin.startSeeding(this.connected(this.origin))
      this.drain(this.origin)
      for (let v = 0; v < options.validators; v++) {
        const at = this.now + this.latency(this.origin, n + 1 + v)
        for (const tx of [this.release, ...approvals]) this.queue.pushClosure(at, () => this.submitTo(v, tx))
      }
    })
  }

  /** The fleet's history before the run: roles, then every device registered. */
  private history(factory: TxFactory): CertifiedBlock[] {
    const txs: SignedTx[] = [...factory.bootstrap()]
    for (let i = 0; i < this.n; i++)
      txs.push(factory.registerDevice(this.keys[i]!.publicKey, PRODUCT, HARDWARE))
    const genesis = this.chain.genesis
    const signers = new Map<number, Uint8Array>()
    for (let v = 0; v < quorumSize(genesis.validators.length); v++)
      signers.set(v, this.chain.validators[v]!.secretKey)
    const state = new LedgerState(genesis)
    const blocks: CertifiedBlock[] = []
    const per = genesis.params.blockTxsMax
    let prev: CID | null = null
    for (let i = 0; i < txs.length; i += per) {
      const height = blocks.length + 1
      // Signed just above by the fleet's own keys: applied without checking them again.
      const built = buildBlock(
        state,
        { chain: genesis.chainId, height, prev, time: this.t0, proposer: height % genesis.validators.length },
        txs.slice(i, i + per),
        { verifySignatures: false },
      )
      assert(built.ok, 'the registration history follows the rules')
      const { block } = built.value
      built.value.state.mergeIntoParent()
      blocks.push({ block, cert: certify(genesis, signers, height, 0, block.hash) })
      prev = block.hash
    }
    return blocks
  }

  /** The clock as the cores that stamp records see it: whole milliseconds, like Date.now(). */
  private ms(): number {
    return Math.floor(this.now)
  }

  // ---- Network model ----

  /** One-way latency between gossip/overlay nodes a and b. */
  private latency(a: number, b: number): number {
    const fixed = this.o.linkLatencyMs
    if (fixed !== undefined) return fixed
    return (
      this.accessMs[a]! +
      this.accessMs[b]! +
      (this.region[a] === this.region[b] ? INTRA_REGION_MS : INTER_REGION_MS)
    )
  }

  /** Can a and b talk (the partition, if any)? Online-ness is checked separately. */
  private linkUp(a: number, b: number): boolean {
    const r = this.partitionRegion
    if (r < 0) return true
    return (this.region[a] === r) === (this.region[b] === r)
  }

  private lost(): boolean {
    const loss = this.o.loss ?? 0
    return loss > 0 && this.prng.chance(loss)
  }

  private usableGossip(i: number): boolean {
    if (i < this.n) return this.online[i] === 1
    if (i === this.origin) return true
    return this.committee.isUp(i - this.n - 1)
  }

  private recomputeGossip(): void {
    this.gossipDirty = false
    const usable = (i: number) => this.usableGossip(i)
    const linkUp = (a: number, b: number) => this.linkUp(a, b)
    const weight = (a: number, b: number) => this.latency(a, b) + GOSSIP_HOP_MS
    this.blockDist.fill(Number.POSITIVE_INFINITY)
    for (let v = 0; v < this.o.validators; v++) {
      const out = this.distV[v]!
      distances(this.mesh, [this.n + 1 + v], usable, linkUp, weight, out)
      for (let i = 0; i < this.g; i++) if (out[i]! < this.blockDist[i]!) this.blockDist[i] = out[i]!
    }
  }

  /** The mesh changed (churn, a partition, a crash): repaired at the next heartbeat. */
  private markGossipDirty(): void {
    this.gossipDirty = true
    if (this.heartbeatPending) return
    this.heartbeatPending = true
    this.queue.pushClosure(this.now + GOSSIP_HEARTBEAT_MS, () => {
      this.heartbeatPending = false
      if (this.gossipDirty) this.recomputeGossip()
      this.catchUp()
    })
  }

  // ---- The run ----

  run(): FleetResult {
    const q = this.queue
    const tEnd = this.t0 + SIM_TIME_MAX_MS
    let stuck = false
    while (q.pop()) {
      this.now = q.at
      if (this.o.runForMs !== undefined && this.now > this.t0 + this.o.runForMs) {
        this.finishedAt = this.now
        break
      }
      if (++this.events > this.eventsMax || this.now > tEnd) {
        stuck = true
        break
      }
      switch (q.kind) {
        case KIND_CLOSURE:
          q.fn!()
          break
        case K_REQUEST:
          this.onRequest(q.a, q.b, q.c, q.d, q.e)
          break
        case K_UPLOAD_DONE:
          this.onUploadDone(q.a, q.b, q.c, q.d, q.e)
          break
        case K_DELIVER:
          this.onDeliver(q.a, q.b, q.c, q.e)
          break
        case K_CANCEL:
          this.onCancel(q.a, q.b, q.c, q.d, q.e)
          break
        case K_NOT_FOUND:
          this.onNotFound(q.a, q.b, q.c, q.d, q.e)
          break
        case K_TICK:
          this.onTick(q.a)
          break
        case K_FLUSH:
          this.onFlush(q.a, q.b, q.e)
          break
        case K_ARRIVE:
          this.onArrive(q.a, q.b, q.c, q.e)
          break
      }
      if ((this.events & (PROGRESS_EVERY_EVENTS - 1)) === 0) this.reportProgress()
      if (!Number.isNaN(this.finishedAt)) break
    }
    // A timed run whose events ran out before its time is over has still run its course.
    if (this.o.runForMs !== undefined && Number.isNaN(this.finishedAt) && !stuck) this.finishedAt = this.now
    if (Number.isNaN(this.finishedAt)) stuck = true
    this.reportProgress()
    return this.result(stuck)
  }

  private reportProgress(): void {
    this.o.progress?.({
      simSeconds: Number.isNaN(this.approvalAt) ? 0 : (this.now - this.approvalAt) / 1000,
      downloaded: this.meter.downloaded,
      reportsCommitted: this.meter.installedCommitted,
      honestDevices: this.honest,
      events: this.events,
    })
  }

  // ---- Chunk protocol ----

  /** The neighbours x can reach now, as peer ids: what a node's connection list would say. */
  private connected(x: number): string[] {
    const g = this.overlay
    const peers: string[] = []
    for (let k = g.start[x]!; k < g.start[x + 1]!; k++) {
      const y = g.adj[k]!
      if (this.online[y] && this.linkUp(x, y)) peers.push(this.peerIds[y]!)
    }
    return peers
  }

  /** A session holding the whole image (the origin's, a malicious device's claim). */
  private completeSession(x: number): TransferSession {
    const session = new TransferSession({ chunkCount: this.chunkCount, held: fullBitfield(this.chunkCount) })
    this.sessions[x] = session
    return session
  }

  /** y received x's `have` (transfer-service.ts `have`). */
  private onHave(x: number, y: number, bits: Uint8Array, ex: number, ey: number): void {
    if (!this.online[y] || this.epoch[x] !== ex || this.epoch[y] !== ey || !this.linkUp(x, y)) return
    this.cpu?.message(this.now)
    const session = this.sessions[y]
    if (!session) return
    session.handleHave(this.peerIds[x]!, bits, this.now)
    this.drain(y)
  }

  private onRequest(x: number, y: number, chunk: number, ex: number, ey: number): void {
    if (!this.online[y] || this.epoch[x] !== ex || this.epoch[y] !== ey || !this.linkUp(x, y)) return
    this.cpu?.message(this.now)
    const session = this.sessions[y]
    if (!session) {
      this.sendNotFound(y, x, chunk, 0)
      return
    }
    if (session.handleRequest(this.peerIds[x]!, chunk, this.now)) this.pump(y)
    this.drain(y, false)
  }

  private sendNotFound(y: number, x: number, chunk: number, busy: number): void {
    this.cpu?.message(this.now)
    if (this.lost()) return
    this.queue.push(this.now + this.latency(y, x), K_NOT_FOUND, y, x, chunk, busy, this.epoch[x]!)
  }

  /** y's uplink takes the next job, if idle. */
  private pump(y: number): void {
    if (this.uplinkBusy[y]) return
    const session = this.sessions[y]
    const job = session?.takeUpload()
    if (!session || !job) return
    this.uplinkBusy[y] = 1
    const x = Number(job.peer)
    this.uplinkChunk[y] = job.chunk
    this.uplinkPeer[y] = x
    this.uplinkSession[y] = session
    const bytes = this.bytesOf(job.chunk)
    const linkDone = this.now + bytes * this.upMsPerByte[y]!
    this.queue.push(
      this.cpu ? Math.max(linkDone, this.cpu.chunk(this.now, bytes)) : linkDone,
      K_UPLOAD_DONE,
      y,
      x,
      job.chunk,
      this.epoch[y]!,
      this.epoch[x]!,
    )
  }

  /** The uplink's job ends (sent, or y went offline): its upload slot is free. */
  private freeUplink(y: number): void {
    if (!this.uplinkBusy[y]) return
    this.uplinkBusy[y] = 0
    this.uplinkSession[y]!.uploadSent(this.peerIds[this.uplinkPeer[y]!]!, this.uplinkChunk[y]!)
    this.uplinkSession[y] = null
  }

  private bytesOf(chunk: number): number {
    return chunk === this.chunkCount - 1 ? this.lastChunkBytes : this.o.chunkBytes
  }

  private onUploadDone(y: number, x: number, chunk: number, ey: number, ex: number): void {
    if (this.epoch[y] !== ey) return // y went offline: its uplink was freed then
    this.freeUplink(y)
    const bytes = this.bytesOf(chunk)
    this.meter.uploaded(y === this.origin, bytes, this.now)
    if (this.epoch[x] === ex && this.online[x] && this.linkUp(x, y)) {
      // The chunk crosses the link, then queues for x's downlink.
      const arrives = this.now + this.latency(y, x)
      const start = Math.max(this.dlFreeAt[x]!, arrives)
      const done = start + bytes * this.downMsPerByte[x]!
      this.dlFreeAt[x] = done
      this.queue.push(done, this.cpu ? K_ARRIVE : K_DELIVER, y, x, chunk, 0, ex)
    }
    this.pump(y)
  }

  /** The chunk is down x's link; x's process takes it once it gets a core (shared CPU). */
  private onArrive(y: number, x: number, chunk: number, ex: number): void {
    if (this.epoch[x] !== ex || !this.online[x]) return
    const done = this.cpu!.chunk(this.now, this.bytesOf(chunk))
    this.queue.push(done, K_DELIVER, y, x, chunk, 0, ex)
  }

  private onDeliver(y: number, x: number, chunk: number, ex: number): void {
    if (this.epoch[x] !== ex || !this.online[x]) return
    const session = this.sessions[x]
    if (!session?.downloading) return
    const bad = this.malicious[y] === 1
    const outcome = session.handleChunk(this.peerIds[y]!, chunk, bad ? 'bad-hash' : 'ok', this.now)
    if (bad && !this.malicious[x]) this.meter.servedHonest[y] = 1
    if (outcome === 'accepted') {
      // Stored at once (the store is not modelled); announced in the node's two tiers.
      session.chunkStored(chunk)
      this.scheduleFlushes(x)
    }
    this.drain(x, false)
    if (session.isComplete()) this.downloadComplete(x)
  }

  private onCancel(x: number, y: number, chunk: number, ex: number, ey: number): void {
    if (!this.online[y] || this.epoch[x] !== ex || this.epoch[y] !== ey) return
    this.cpu?.message(this.now)
    this.sessions[y]?.handleCancel(this.peerIds[x]!, chunk)
  }

  private onNotFound(y: number, x: number, chunk: number, busy: number, ex: number): void {
    if (this.epoch[x] !== ex || !this.online[x] || !this.linkUp(x, y)) return
    this.cpu?.message(this.now)
    const session = this.sessions[x]
    if (!session) return
    session.handleNotFound(this.peerIds[y]!, chunk, busy ? 'busy' : 'not-held', this.now)
    this.drain(x)
  }

  private onTick(x: number): void {
    if (this.tickAt[x] !== this.now) return
    this.tickAt[x] = Number.POSITIVE_INFINITY
    const session = this.sessions[x]
    if (!session) return
    session.handleTick(this.now)
    this.drain(x)
  }

  /**
   * x's new chunks are announced as transfer-service.ts does, in two tiers: to neighbours
   * holding every chunk at the end of the turn (modelled HAVE_BATCH_MS later: the spread of
   * the neighbours' latencies), and to everyone every HAVE_UPDATE_INTERVAL_MS. The first tier
   * matters only to the origin's super-seeding, so only the origin's neighbours schedule it;
   * other devices' complete neighbours (finished devices) hear at the second.
   */
  private scheduleFlushes(x: number): void {
    const pending = this.flushPending[x]!
    const latency = this.minNeighbourMs[x]!
    if ((pending & FLUSH_COMPLETE_HOLDERS) === 0 && this.originNeighbour[x]) {
      this.flushPending[x] = this.flushPending[x]! | FLUSH_COMPLETE_HOLDERS
      this.queue.push(
        this.now + this.haveBatchMs + latency,
        K_FLUSH,
        x,
        FLUSH_COMPLETE_HOLDERS,
        0,
        0,
        this.epoch[x]!,
      )
    }
    if ((pending & FLUSH_ALL) === 0) {
      this.flushPending[x] = this.flushPending[x]! | FLUSH_ALL
      this.queue.push(
        this.now + HAVE_UPDATE_INTERVAL_MS + latency,
        K_FLUSH,
        x,
        FLUSH_ALL,
        0,
        0,
        this.epoch[x]!,
      )
    }
  }

  /** x's have-updates of one tier go out. They reach the neighbours at once: the flush was
   * scheduled a link's latency late, which saves an event per neighbour and batch. */
  private onFlush(x: number, tier: number, ex: number): void {
    this.flushPending[x] = this.flushPending[x]! & ~tier
    if (this.epoch[x] !== ex || !this.online[x]) return
    this.flushing = x
    this.sessions[x]?.announce(tier === FLUSH_ALL ? 'all' : 'complete-holders', this.deliverHaveUpdate)
  }

  /** The sender of the have-updates `deliverHaveUpdate` hands over (onFlush sets it). */
  private flushing = -1

  private readonly deliverHaveUpdate = (peer: string, chunks: readonly number[]): void =>
    this.haveUpdate(this.flushing, Number(peer), chunks)

  /**
   * Drops y's references to its neighbours: each points into y's scheduler, which they would
   * keep alive after y's download ended (at 10k devices, 130 MB more and a third more time).
   */
  private forgetPeerRefs(y: number): void {
    this.peerRefs.fill(undefined, this.overlay.start[y]!, this.overlay.start[y + 1]!)
  }

  /** y hears x's have-update (no latency of its own: see onFlush). */
  private haveUpdate(x: number, y: number, chunks: readonly number[]): void {
    if (this.cpu) {
      // Sent by x and read by y: a message's cost on each side.
      this.cpu.message(this.now)
      this.cpu.message(this.now)
    }
    if (!this.online[y] || !this.linkUp(x, y) || this.lost()) return
    const session = this.sessions[y]
    if (!session) return
    // y's reference for x, kept per link: the lookup by id was a tenth of a run's time.
    const e = this.overlay.edgeIndex(y, x)
    let from = this.peerRefs[e]
    if (from === undefined) {
      from = session.peerRef(this.peerIds[x]!)
      this.peerRefs[e] = from
    }
    session.handleHaveUpdate(from ?? this.peerIds[x]!, chunks, this.now)
    // Timers change only with a new request, so without outputs there is nothing to re-arm.
    this.drain(y, false)
  }

  /** Carries out a session's outputs and arms its timer. */
  private drain(x: number, timersMayChange = true): void {
    const session = this.sessions[x]
    if (!session) return
    let outputs = 0
    for (let out: SessionOutput | undefined = session.poll(); out; out = session.poll()) {
      outputs++
      this.send(x, out)
    }
    if (outputs === 0 && !timersMayChange) return
    const next = session.nextTimeout()
    if (next !== undefined && next < this.tickAt[x]!) {
      this.tickAt[x] = next
      this.queue.push(Math.max(next, this.now), K_TICK, x, 0, 0, 0, 0)
    }
  }

  /** One output of x's session: a message on its way to a neighbour, or a ban to count. */
  private send(x: number, out: SessionOutput): void {
    const y = Number(out.peer)
    switch (out.type) {
      case 'request':
      case 'cancel':
        this.cpu?.message(this.now)
        if (this.lost()) return
        this.queue.push(
          this.now + this.latency(x, y),
          out.type === 'request' ? K_REQUEST : K_CANCEL,
          x,
          y,
          out.chunk,
          this.epoch[x]!,
          this.epoch[y]!,
        )
        return
      case 'not-found':
        this.sendNotFound(x, y, out.chunk, out.reason === 'busy' ? 1 : 0)
        return
      case 'have': {
        this.cpu?.message(this.now)
        if (!this.online[x] || !this.online[y] || !this.linkUp(x, y)) return
        const ex = this.epoch[x]!
        const ey = this.epoch[y]!
        const bits = out.bitfield
        this.queue.pushClosure(this.now + this.latency(x, y), () => this.onHave(x, y, bits, ex, ey))
        return
      }
      case 'have-update':
        this.haveUpdate(x, y, out.chunks)
        return
      case 'ban':
        this.meter.banned(y, this.malicious[y] === 1, this.malicious[x] === 0)
        return
    }
  }

  /** The agent asked for the image: fetch the manifest from a neighbour, then download. */
  private startFetch(x: number): void {
    if (Number.isNaN(this.meter.fetchAt[x]!)) this.meter.fetchAt[x] = this.now
    const existing = this.sessions[x]
    if (existing) {
      if (!existing.downloading) this.queue.pushClosure(this.now, () => this.agentDownloaded(x))
      return
    }
    this.queue.pushClosure(this.now + 2 * this.minNeighbourMs[x]!, () => {
      if (this.sessions[x]) return
      // A fresh session holds nothing, whatever an earlier, cancelled one had.
      const session = new TransferSession({ chunkCount: this.chunkCount })
      this.sessions[x] = session
      session.startDownload(this.prng.child(`scheduler/${x}`), this.connected(x))
      this.drain(x)
    })
  }

  private downloadComplete(x: number): void {
    this.sessions[x]!.stopDownload()
    this.forgetPeerRefs(x)
    this.tickAt[x] = Number.POSITIVE_INFINITY
    this.meter.downloadDone(x, this.now)
    this.agentDownloaded(x)
  }

  // ---- Churn and partitions ----

  /** The link x–y broke: both sides forget each other (transfer-service.ts `neighbourLeft`). */
  private linkDown(x: number, y: number): void {
    this.atBothEnds(x, y, (session, other) => session.handlePeerLeft(other, this.now))
  }

  /** The link x–y (re)formed: a side that is downloading tells the other (peer:connect). */
  private linkUpAgain(x: number, y: number): void {
    this.atBothEnds(x, y, (session, other) => session.handlePeerConnected(other))
  }

  /** Tells the session at each end of the link x–y about the other end, and drains it. */
  private atBothEnds(x: number, y: number, tell: (session: TransferSession, other: string) => void): void {
    for (const [a, b] of [
      [x, y],
      [y, x],
    ] as const) {
      const session = this.sessions[a]
      if (!session) continue
      tell(session, this.peerIds[b]!)
      this.drain(a)
    }
  }

  private leave(x: number): void {
    if (!this.online[x]) return
    const g = this.overlay
    for (let k = g.start[x]!; k < g.start[x + 1]!; k++) {
      const y = g.adj[k]!
      if (this.online[y] && this.linkUp(x, y)) this.linkDown(x, y)
    }
    this.online[x] = 0
    if (x < this.n) this.meter.wentOffline(x, this.now)
    this.epoch[x]!++
    this.freeUplink(x)
    this.dlFreeAt[x] = this.now
    this.markGossipDirty()
  }

  private rejoin(x: number): void {
    if (this.online[x]) return
    this.online[x] = 1
    if (x < this.n) this.meter.cameBack(x, this.now)
    this.epoch[x]!++
    const g = this.overlay
    for (let k = g.start[x]!; k < g.start[x + 1]!; k++) {
      const y = g.adj[k]!
      if (this.online[y] && this.linkUp(x, y)) this.linkUpAgain(x, y)
    }
    if (x < this.n) this.behind[x] = 1
    this.markGossipDirty()
  }

  private setPartition(region: number): void {
    const g = this.overlay
    const before = this.partitionRegion
    const cut = region >= 0 ? region : before
    const crossing: [number, number][] = []
    for (let x = 0; x <= this.n; x++) {
      for (let k = g.start[x]!; k < g.start[x + 1]!; k++) {
        const y = g.adj[k]!
        if (
          x < y &&
          (this.region[x] === cut) !== (this.region[y] === cut) &&
          this.online[x] &&
          this.online[y]
        )
          crossing.push([x, y])
      }
    }
    if (region >= 0) {
      for (const [x, y] of crossing) this.linkDown(x, y)
      this.partitionRegion = region
    } else {
      this.partitionRegion = -1
      for (const [x, y] of crossing) this.linkUpAgain(x, y)
    }
    if (region < 0) for (let i = 0; i < this.n; i++) if (this.region[i] === cut) this.behind[i] = 1
    this.markGossipDirty()
  }

  /** Faults scheduled relative to the approval commit. */
  private scheduleFaults(): void {
    const o = this.o
    const t = this.approvalAt
    if (o.churn && o.churn.share > 0) {
      const p = this.prng.child('churn')
      const candidates = Array.from({ length: this.n }, (_, i) => i).filter((i) => !this.malicious[i])
      const count = Math.round(o.churn.share * this.n)
      for (const x of p.shuffle(candidates).slice(0, count)) {
        const leaveAt = t + p.next() * o.churn.windowMs
        const back = leaveAt + o.churn.offlineMinMs + p.next() * (o.churn.offlineMaxMs - o.churn.offlineMinMs)
        this.meter.churned[x] = 1
        this.queue.pushClosure(leaveAt, () => this.leave(x))
        this.queue.pushClosure(back, () => this.rejoin(x))
      }
    }
    if (o.partition) {
      const { region, fromMs, durationMs } = o.partition
      assert(region > 0 && region < REGIONS, 'the partitioned region is not the data centre region')
      this.queue.pushClosure(t + fromMs, () => this.setPartition(region))
      this.queue.pushClosure(t + fromMs + durationMs, () => this.setPartition(-1))
    }
    if (o.validatorCrash) {
      const { validator, atMs } = o.validatorCrash
      this.queue.pushClosure(t + atMs, () => {
        this.committee.crash(validator)
        this.markGossipDirty()
      })
    }
  }

  // ---- Ledger, gossip and agents ----

  private submitTo(v: number, tx: SignedTx): void {
    this.committee.submit(v, tx)
  }

  private onFollowerCommit(block: Block, _cert: Certificate): void {
    const h = block.header.height
    const committedAt = this.committee.firstCommitAt[h] ?? this.now
    let releasesChanged = false
    for (const tx of block.txs) {
      const type = tx.body.type
      if (type === 'release.publish' || type === 'release.approve' || type === 'release.revoke')
        releasesChanged = true
      if (type !== 'install.report') continue
      const p = this.pendingTx.get(tx.idString)
      if (!p || p.committedHeight >= 0) continue
      p.committedHeight = h
      this.uncommittedTxs--
      if (p.confirmed) this.meter.reportCommitted(p.device, p.submittedAt, committedAt)
      this.notifyReport(p.device, p.reportId, committedAt)
    }
    const current = this.committee.follower.ledger.release(this.releaseId)
    // A failed report may halt the release (rules.ts): devices must see the halt as they
    // would see a pause, so a change of the release's control fields sends a new view.
    if (
      current !== this.lastRecord &&
      (current?.halted !== this.lastRecord?.halted ||
        current?.paused !== this.lastRecord?.paused ||
        current?.aborted !== this.lastRecord?.aborted)
    )
      releasesChanged = true
    if (releasesChanged) {
      this.lastRecord = current
      const state = this.committee.follower.ledger
      const record = state.release(this.releaseId)
      const approved = record !== undefined && isInstallable(record)
      this.snapshots.push({ view: snapshotView(state), approved })
      if (approved && Number.isNaN(this.approvalAt)) {
        this.approvalAt = committedAt
        this.scheduleFaults()
      }
      const idx = this.snapshots.length - 1
      for (let d = 0; d < this.n; d++) this.sendView(d, idx, committedAt)
    }
    this.checkFinished()
  }

  private checkFinished(): void {
    if (
      Number.isNaN(this.finishedAt) &&
      this.o.runForMs === undefined &&
      this.meter.installedCommitted === this.honest &&
      this.uncommittedTxs === 0
    )
      this.finishedAt = this.now
  }

  /** Gossip carries a ledger view (the blocks up to it) to device d. */
  private sendView(d: number, idx: number, committedAt: number): void {
    const dist = this.blockDist[d]!
    if (!this.online[d] || !Number.isFinite(dist)) {
      this.behind[d] = 1
      return
    }
    this.queue.pushClosure(Math.max(this.now, committedAt + dist), () => this.receiveView(d, idx))
  }

  private receiveView(d: number, idx: number): void {
    if (!this.online[d]) {
      this.behind[d] = 1
      return
    }
    if (idx <= this.viewIdx[d]!) return
    this.viewIdx[d] = idx
    const snap = this.snapshots[idx]!
    if (snap.approved && Number.isNaN(this.meter.announceAt[d]!)) this.meter.announceAt[d] = this.now
    const agent = this.agents[d]
    if (!agent) {
      // A malicious device joins the swarm as soon as it hears of the release, claiming it all.
      if (this.malicious[d] && snap.approved && !this.sessions[d]) {
        this.completeSession(d).tellAll(this.connected(d))
        this.drain(d)
      }
      return
    }
    agent.handleLedger(snap.view, this.ms())
    this.runAgent(d)
  }

  private notifyReport(d: number, reportId: number, committedAt: number): void {
    const dist = this.blockDist[d]!
    if (!this.online[d] || !Number.isFinite(dist)) {
      this.behind[d] = 1
      return
    }
    this.queue.pushClosure(Math.max(this.now, committedAt + dist), () =>
      this.receiveReportCommit(d, reportId),
    )
  }

  private receiveReportCommit(d: number, reportId: number): void {
    if (!this.online[d]) {
      this.behind[d] = 1
      return
    }
    this.agents[d]?.handleReportCommitted(reportId, this.ms())
    this.runAgent(d)
  }

  /** Devices that missed gossip sync from a neighbour once they are reachable again. */
  private catchUp(): void {
    const latest = this.snapshots.length - 1
    for (let d = 0; d < this.n; d++) {
      if (!this.behind[d] || !this.online[d]) continue
      const dist = this.blockDist[d]!
      if (!Number.isFinite(dist)) continue
      this.behind[d] = 0
      const at = this.now + dist
      if (this.viewIdx[d]! < latest) this.queue.pushClosure(at, () => this.receiveView(d, latest))
      for (const p of this.reportsOf[d]!) {
        if (p.committedHeight >= 0) this.queue.pushClosure(at, () => this.receiveReportCommit(d, p.reportId))
      }
    }
  }

  /** Carries out the agent's outputs (agent-driver.ts) and arms its timer. */
  private runAgent(d: number): void {
    const agent = this.agents[d]
    if (!agent) return
    for (const out of agent.takeOutputs()) this.carryOut(d, agent, out)
    const at = agent.nextTickAt()
    if (at !== undefined && at < this.agentTickAt[d]!) {
      this.agentTickAt[d] = at
      this.queue.pushClosure(Math.max(at, this.now), () => {
        if (this.agentTickAt[d] !== at) return
        this.agentTickAt[d] = Number.POSITIVE_INFINITY
        agent.handleTick(this.ms())
        this.runAgent(d)
      })
    }
  }

  private carryOut(d: number, agent: DeviceAgent, out: AgentOutput): void {
    switch (out.type) {
      case 'persist':
      case 'log':
        return
      case 'fetch':
        assert(out.release === this.releaseId, 'devices fetch the one release')
        this.startFetch(d)
        return
      case 'cancel-fetch':
        if (this.sessions[d]?.downloading) {
          this.sessions[d] = null
          this.forgetPeerRefs(d)
          this.tickAt[d] = Number.POSITIVE_INFINITY
        }
        return
      case 'verify': {
        const release = out.release
        this.queue.pushClosure(this.now + this.o.imageBytes * VERIFY_MS_PER_BYTE, () => {
          agent.handleVerified(release, this.imageSha256, this.ms())
          this.runAgent(d)
        })
        return
      }
      case 'install': {
        const release = out.release
        this.queue.pushClosure(this.now + INSTALL_MS, () => {
          if (this.failing[d]) {
            const failed = {
              ok: false,
              code: 'exit',
              exitCode: 1,
              detail: 'simulated install failure',
            } as const
            agent.handleInstallDone(release, failed, this.ms())
          } else {
            agent.handleInstallDone(release, { ok: true }, this.ms())
          }
          this.runAgent(d)
        })
        return
      }
      case 'confirm': {
        // A simulated device runs what it installed at once: no reboot, nothing rolled back.
        const release = out.release
        this.queue.pushClosure(this.now + CONFIRM_MS, () => {
          this.meter.installedAt[d] = this.now
          agent.handleConfirmDone(release, { state: 'running' }, this.ms())
          this.runAgent(d)
        })
        return
      }
      case 'report': {
        // The agent resubmits a report unchanged (same time, same nonce): sign it once.
        const known = this.reportsOf[d]!.find((r) => r.reportId === out.id)
        if (known) {
          assert(known.confirmed === (out.status === 'confirmed'), 'a resubmitted report is unchanged')
          this.gossipReport(d, known.tx)
          return
        }
        const body = {
          type: 'install.report',
          chain: this.chain.genesis.chainId,
          signer: this.keys[d]!.publicKey,
          nonce: out.id,
          release: this.releaseCid,
          device: this.keys[d]!.publicKey,
          status: out.status,
          imageSha256: out.imageSha256,
          time: out.time,
          ...(out.detail !== undefined ? { detail: out.detail } : {}),
        } as TxBody
        const tx = signTx(body, this.keys[d]!)
        assert(!this.pendingTx.has(tx.idString), 'report ids are unique per device')
        const p: PendingTx = {
          device: d,
          reportId: out.id,
          tx,
          confirmed: out.status === 'confirmed',
          submittedAt: this.now,
          committedHeight: -1,
        }
        this.pendingTx.set(tx.idString, p)
        this.reportsOf[d]!.push(p)
        this.uncommittedTxs++
        this.gossipReport(d, tx)
        return
      }
    }
  }

  /** Gossip on the tx topic reaches every validator that is up and reachable from device d. */
  private gossipReport(d: number, tx: SignedTx): void {
    if (!this.online[d]) return
    for (let v = 0; v < this.o.validators; v++) {
      const dist = this.distV[v]![d]!
      if (Number.isFinite(dist)) this.queue.pushClosure(this.now + dist, () => this.submitTo(v, tx))
    }
  }

  private agentDownloaded(d: number): void {
    const agent = this.agents[d]
    if (!agent) return
    agent.handleDownloaded(this.releaseId, this.ms())
    this.runAgent(d)
  }

  // ---- Results ----

  private result(stuck: boolean): FleetResult {
    let reportsAllCommitted = true
    for (let d = 0; d < this.n; d++)
      for (const p of this.reportsOf[d]!) if (p.committedHeight < 0) reportsAllCommitted = false
    return fleetResult(
      {
        options: this.o,
        devices: this.n,
        honest: this.honest,
        malicious: this.malicious,
        upMsPerByte: this.upMsPerByte,
        downMsPerByte: this.downMsPerByte,
        classOf: this.classOf,
        regionOf: this.region,
        rolloutBuckets: this.agents.map((agent, d) =>
          agent ? rolloutBucketOf(this.keys[d]!.publicKey) : -1,
        ),
        startAt: this.t0,
        approvalAt: this.approvalAt,
        finishedAt: this.finishedAt,
        events: this.events,
        reportsAllCommitted,
        viewChanges: this.committee.viewChanges,
        height: this.committee.head,
        violations: [...this.committee.violations, ...this.violations],
        installFailures: this.failing.reduce((a, b) => a + b, 0),
        rolloutHalt: haltOf(this.committee.follower.ledger.release(this.releaseId)),
        stuck,
      },
      this.meter,
    )
  }
}

function haltOf(record: ReleaseRecord | undefined): FleetResult['details']['rolloutHalt'] {
  const h = record?.halted
  return h ? { wave: h.wave, percent: h.percent, failures: h.failures, targeted: h.targeted } : null
}

/** A frozen ledger view of the state's releases now (the agent's LedgerView contract). */
function snapshotView(state: LedgerState): LedgerView {
  const byId = new Map<string, ReleaseRecord>()
  const groups = new Map<string, ReleaseRecord[]>()
  for (const [id, record] of state.releases.entries()) {
    byId.set(id, record)
    const key = `${record.product}/${record.channel}`
    const group = groups.get(key) ?? []
    groups.set(key, group)
    group.push(record)
  }
  for (const group of groups.values()) group.sort((a, b) => compareVersions(b.version, a.version))
  return {
    release: (id) => byId.get(id),
    releasesOf: (product, channel) => groups.get(`${product}/${channel}`) ?? [],
    // Read from the follower's live state, as a node's view reads its own: a registration never
    // changes once committed (device.already-registered), so reading it later reads the same.
    registration: (publicKey) => registrationOf(state.device(publicKey)),
    headTime: state.head.time,
  }
}

/** Installs the shared signature memo for a run (see VerifyMemo) and removes it after. */
export function withVerifyMemo<T>(run: () => T): T {
  setVerifyMemo(new VerifyMemo(VERIFY_MEMO_MAX))
  try {
    return run()
  } finally {
    setVerifyMemo(null)
  }
}

export type { BandwidthClass }
