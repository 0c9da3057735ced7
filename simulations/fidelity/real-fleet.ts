/**
 * The real half of the fidelity comparison: a rollout with real `fwmesh node` processes on
 * 127.0.0.1 (real libp2p, LevelDB, ed25519), the nodes' bandwidth limits set to the scenario's
 * capacities. Measures what the simulator measures: for every device, the time from the
 * release's approval being committed to the device holding the whole verified image.
 *
 * Needs `npm run build` first (the nodes run the built `fwmesh` binary, as users do).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  address,
  children,
  type DemoNode,
  deviceSection,
  fleet,
  grantRoles,
  initGenesis,
  makeNode,
  makeOperators,
  publishAndApprove,
  startNode,
  stopAll,
  submitAll,
  waitForApi,
} from '../../scripts/fleet.js'
import { processCpuSeconds } from '../../scripts/proc-cpu.js'
import { generateKeyPair } from '../../src/crypto/ed25519.js'
import { Prng } from '../../src/prng.js'

export interface FidelityCapacities {
  readonly devices: number
  readonly validators: number
  readonly imageBytes: number
  /** The origin (validator 0, the publisher's node) upload limit, bytes per second. */
  readonly originUploadBps: number
  readonly deviceUploadBps: number
  readonly deviceDownloadBps: number
  /**
   * What each device is given to find the others: every validator and every device started
   * before it (`mesh`, the default, which the simulated scenario mirrors), or only the
   * origin's address (`origin`): the rest is left to the nodes' peer exchange.
   */
  readonly bootstrap?: 'mesh' | 'origin'
  /** Chain parameters: blocks every 100 ms when there is work, an empty one every 5 s, unless set. */
  readonly chain?: { readonly blockIntervalMs: number; readonly emptyBlockIntervalMs: number }
}

export interface RealRolloutResult {
  /**
   * Seconds from the approval's commit to each device holding the whole image, in device order;
   * null for a device that had not finished by the deadline (a stuck device).
   */
  readonly completionSeconds: Array<number | null>
  /** Seconds from the approval's commit to each device holding its first chunk; null: none by the deadline. */
  readonly firstChunkSeconds: Array<number | null>
  /** User + system CPU seconds of every fleet process (validators, origin, devices) over the same window. */
  readonly fleetCpuSeconds: number
  /** The same CPU seconds by role: the origin (validator 0), the other validators, the devices. */
  readonly cpuSecondsByRole: {
    readonly origin: number
    readonly validators: number
    readonly devices: number
  }
  /** Image copies the origin uploaded. */
  readonly originEgressCopies: number
  /**
   * The machine's CPU busy fraction (all cores) from the approval to the last completion: near
   * 1 means the processes waited for the CPU, and the run measured the machine, not the links.
   */
  readonly cpuBusy: number
  /** The one-minute load average when the last device completed. */
  readonly loadAverage: number
  /** Seconds from the approval's commit to the last completion (or the deadline): the window. */
  readonly windowSeconds: number
  /** Every node over the window, validators (the origin first) then devices, for calibration. */
  readonly nodes: readonly NodeWork[]
}

/** What one node did over the window: its CPU, and its chunk-protocol traffic (/metrics). */
export interface NodeWork {
  readonly role: 'origin' | 'validator' | 'device'
  readonly cpuSeconds: number
  readonly messagesSent: number
  readonly messagesReceived: number
  readonly bytesSent: number
  readonly bytesReceived: number
}

type Traffic = Omit<NodeWork, 'role' | 'cpuSeconds'>

const TRAFFIC_COUNTERS: Record<keyof Traffic, string> = {
  messagesSent: 'fwmesh_chunk_messages_sent_total',
  messagesReceived: 'fwmesh_chunk_messages_received_total',
  bytesSent: 'fwmesh_chunk_bytes_sent_total',
  bytesReceived: 'fwmesh_chunk_bytes_received_total',
}

/** A node's chunk-protocol counters from its /metrics. */
async function trafficOf(node: DemoNode): Promise<Traffic> {
  const text = await (await fetch(`http://127.0.0.1:${node.apiPort}/metrics`)).text()
  const value = (name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `))
    if (line === undefined) throw new Error(`node ${node.name} has no ${name} in /metrics`)
    return Number(line.slice(name.length + 1))
  }
  return {
    messagesSent: value(TRAFFIC_COUNTERS.messagesSent),
    messagesReceived: value(TRAFFIC_COUNTERS.messagesReceived),
    bytesSent: value(TRAFFIC_COUNTERS.bytesSent),
    bytesReceived: value(TRAFFIC_COUNTERS.bytesReceived),
  }
}

/** CPU time of all cores so far, busy and idle, in milliseconds. */
function cpuTimes(): { busy: number; idle: number } {
  let busy = 0
  let idle = 0
  for (const c of cpus()) {
    busy += c.times.user + c.times.nice + c.times.sys + c.times.irq
    idle += c.times.idle
  }
  return { busy, idle }
}

/** How often every device's download progress is read: the measurement's resolution. */
const POLL_INTERVAL_MS = 100
/** A rollout that takes longer than this is a failure, not a data point. */
const ROLLOUT_DEADLINE_MS = 300_000

/** A fleet of `fwmesh node` processes, started and registered, before any release. */
export interface RealFleet {
  readonly dir: string
  readonly validators: readonly DemoNode[]
  readonly devices: readonly DemoNode[]
  /** The process ids of every node, validators first. */
  readonly pids: readonly number[]
}

/**
 * Starts the validators (validator 0 is the origin, with the scenario's upload limit), grants the
 * operators' roles, registers the devices and starts them with their limits. Stop it with
 * `stopRealFleet`.
 */
export async function startRealFleet(c: FidelityCapacities): Promise<RealFleet> {
  fleet.dir = await mkdtemp(join(tmpdir(), 'fwmesh-fleet-'))
  const dir = fleet.dir
  const ops = await makeOperators()
  const validators = await Promise.all(
    Array.from({ length: c.validators }, (_, i) => makeNode(`validator-${i}`, generateKeyPair())),
  )
  const devices = await Promise.all(
    Array.from({ length: c.devices }, (_, i) => makeNode(`device-${i}`, generateKeyPair())),
  )
  await initGenesis(
    'fidelity',
    validators,
    ops.admin.publicKey,
    c.chain?.blockIntervalMs ?? 100,
    c.chain?.emptyBlockIntervalMs,
  )
  for (const [i, v] of validators.entries()) {
    const others = validators.filter((o) => o !== v).map(address)
    await startNode(v, 'validator', others, i === 0 ? `[bandwidth]\nupload = ${c.originUploadBps}` : '')
  }
  await Promise.all(validators.map(waitForApi))
  const v0 = validators[0]!
  await grantRoles(v0, 'fidelity', ops)
  await submitAll(
    v0,
    'fidelity',
    ops.admin,
    devices.map((d) => ({
      type: 'device.register',
      device: d.keys.publicKey,
      product: 'gateway',
      hardware: 'rev-b',
      groups: [],
    })),
  )
  // Every device dials the validators and every device before it: a full mesh, which the
  // simulated scenario mirrors.
  const bandwidth = `[bandwidth]\nupload = ${c.deviceUploadBps}\ndownload = ${c.deviceDownloadBps}`
  for (const [i, d] of devices.entries()) {
    const peers =
      c.bootstrap === 'origin'
        ? [address(validators[0]!)]
        : [...validators, ...devices.slice(0, i)].map(address)
    await startNode(d, 'follower', peers, `${bandwidth}\n${deviceSection(d)}`)
  }
  await Promise.all(devices.map(waitForApi))
  const pids = children.map((child) => child.pid).filter((pid) => pid !== undefined)
  return { dir, validators, devices, pids }
}

/** Stops every node of the fleet and removes its directory unless `keepDir`. */
export async function stopRealFleet(f: RealFleet, options: { keepDir?: boolean } = {}): Promise<void> {
  await stopAll()
  // The next fleet of this process starts with no stopped processes on its books.
  children.length = 0
  if (options.keepDir) process.stderr.write(`fleet data and logs kept in ${f.dir}\n`)
  else await rm(f.dir, { recursive: true, force: true })
}

/** `keepDir`: leave the fleet's data directories and logs behind, to read after a surprising run. */
export async function runRealRollout(
  c: FidelityCapacities,
  seed: string,
  options: {
    keepDir?: boolean
    /** Devices not done this long after the approval count as stuck (default ROLLOUT_DEADLINE_MS). */
    deadlineMs?: number
  } = {},
): Promise<RealRolloutResult> {
  let started: RealFleet | undefined
  try {
    started = await startRealFleet(c)
    const { validators, devices, pids } = started
    // Let connections and identify settle, as they have on a fleet that has been running.
    await new Promise((r) => setTimeout(r, 2_000))

    const v0 = validators[0]!
    const image = join(started.dir, 'image.img')
    await writeFile(image, Prng.fromSeed(seed).bytes(c.imageBytes))
    // The clock starts when the origin's node sees the approval committed, not when the CLI
    // exits: the CLI's own exit took 0.5-1.2 s on a loaded machine, and devices that had
    // already chosen the release before it were credited with that time.
    const approval = watchApproval(v0)
    await publishAndApprove(
      `http://127.0.0.1:${v0.apiPort}`,
      image,
      { product: 'gateway', version: '1.1.0', hardware: 'rev-b' },
      2,
      { quiet: true },
    )
    const approvedAt = await approval
    const cpuAtApproval = cpuTimes()
    const cpuAtApprovalByPid = await Promise.all(pids.map(processCpuSeconds))
    const nodes = [...validators, ...devices]
    const trafficAtApproval = await Promise.all(nodes.map(trafficOf))
    if (options.keepDir)
      process.stderr.write(
        `approval committed at ${new Date(Date.now() - (performance.now() - approvedAt)).toISOString()}\n`,
      )
    const progress = await pollProgress(devices, approvedAt, options.deadlineMs ?? ROLLOUT_DEADLINE_MS)
    const windowSeconds = (performance.now() - approvedAt) / 1000
    const cpuByPid = (await Promise.all(pids.map(processCpuSeconds))).map(
      (c, i) => c - cpuAtApprovalByPid[i]!,
    )
    const trafficAtEnd = await Promise.all(nodes.map(trafficOf))
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
    const fleetCpuSeconds = sum(cpuByPid)
    const cpuSecondsByRole = {
      origin: cpuByPid[0]!,
      validators: sum(cpuByPid.slice(1, validators.length)),
      devices: sum(cpuByPid.slice(validators.length)),
    }
    const cpuAtEnd = cpuTimes()
    const busy = cpuAtEnd.busy - cpuAtApproval.busy
    const cpuBusy = busy / Math.max(1, busy + cpuAtEnd.idle - cpuAtApproval.idle)
    const originUploaded = Number((await v0.api.downloads())[0]?.uploadedBytes ?? 0)
    return {
      completionSeconds: progress.completion,
      firstChunkSeconds: progress.firstChunk,
      fleetCpuSeconds,
      cpuSecondsByRole,
      originEgressCopies: originUploaded / c.imageBytes,
      cpuBusy,
      loadAverage: loadavg()[0]!,
      windowSeconds,
      nodes: nodes.map((_, i) => {
        const before = trafficAtApproval[i]!
        const after = trafficAtEnd[i]!
        return {
          role: i === 0 ? 'origin' : i < validators.length ? 'validator' : 'device',
          cpuSeconds: cpuByPid[i]!,
          messagesSent: after.messagesSent - before.messagesSent,
          messagesReceived: after.messagesReceived - before.messagesReceived,
          bytesSent: after.bytesSent - before.bytesSent,
          bytesReceived: after.bytesReceived - before.bytesReceived,
        }
      }),
    }
  } finally {
    if (started) await stopRealFleet(started, options)
    else await stopAll()
  }
}

/** How often the origin's node is asked whether the approval has committed. */
const APPROVAL_POLL_INTERVAL_MS = 20

/** Resolves with the moment (performance.now()) the origin's node first lists the release approved. */
async function watchApproval(origin: DemoNode): Promise<number> {
  const started = performance.now()
  for (;;) {
    if (performance.now() - started > ROLLOUT_DEADLINE_MS)
      throw new Error(`the release was not approved in ${ROLLOUT_DEADLINE_MS / 1000} s`)
    const releases = await origin.api.releases('gateway').catch(() => [])
    if (releases.some((r) => r.approvedAt !== null && r.approvedAt !== undefined)) return performance.now()
    await new Promise((r) => setTimeout(r, APPROVAL_POLL_INTERVAL_MS))
  }
}

/**
 * Reads every device's download progress until all hold the whole image or the deadline passes:
 * when each first held a chunk and when each held them all, in seconds after the approval.
 */
async function pollProgress(
  devices: readonly DemoNode[],
  approvedAt: number,
  deadlineMs: number,
): Promise<{ completion: Array<number | null>; firstChunk: Array<number | null> }> {
  const completion: Array<number | null> = devices.map(() => null)
  const firstChunk: Array<number | null> = devices.map(() => null)
  while (completion.some((t) => t === null) && performance.now() - approvedAt <= deadlineMs) {
    await Promise.all(
      devices.map(async (d, i) => {
        if (completion[i] !== null) return
        const rows = await d.api.downloads().catch(() => [])
        const row = rows[0] as { chunks?: number; held?: number; written?: number } | undefined
        const seconds = (performance.now() - approvedAt) / 1000
        if ((row?.written ?? 0) > 0 && firstChunk[i] === null) firstChunk[i] = seconds
        if (row && row.chunks !== undefined && row.held === row.chunks) completion[i] = seconds
      }),
    )
    await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS))
  }
  return { completion, firstChunk }
}
