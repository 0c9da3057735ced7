/**
 * `npm run bench -- swarm [--scenario all|linkBound|cpuBound|idle] [--runs 1] [--devices N]
 * [--image-mib M] [--origin-up-kibps K] [--device-up-kibps K] [--device-down-kibps K]
 * [--idle-seconds 60] [--bootstrap mesh|origin] [--anchors 0]`: real fleets of `fwmesh node` processes on 127.0.0.1 (4 validators,
 * validator 0 being the origin, N devices, each node rate-limited by its own config), beside
 * the anchors measured in the same run. Needs `npm run build` first. Prints one JSON object.
 *
 * Per rollout scenario (medians over `--runs`):
 * - slowestSeconds: approval commit (seen by the origin) to the last device holding the image;
 * - lowerBoundSeconds, ratioToBound: the Kumar–Ross bound for one seed (simulations/report/bounds.ts);
 * - originCopies: image copies the origin uploaded;
 * - stuckDevices: devices unfinished at the deadline (the maximum over runs, and every run's count);
 * - firstChunkSeconds {p50, max}: approval commit to each device's first written chunk;
 * - cpuSecondsPerGiB: user + system CPU of every fleet process (validators included) from /proc,
 *   over the same window, per GiB delivered to devices.
 * Beside them, from the same run: `libtorrent` (the same image, peers and limits, one seed;
 * `npm run bench:install-anchors` installs Debian's python3-libtorrent, and without it the
 * bench says so there) and `rawLibp2p` (the same bytes over four plain streams of the node's
 * transport stack), with the ratios `cpuVsLibtorrent` and `cpuVsRawLibp2p`: see bench/anchors/.
 *
 * `--bootstrap origin` gives each device only the origin's address, so the devices must find
 * each other by peer exchange (the default gives each every validator and earlier device).
 *
 * `idle`: the same fleet with no release, after start-up settles: each process's share of one
 * core over `--idle-seconds`, validators and followers apart; at a new genesis's default chain
 * parameters (an empty block every 30 s), and as `fastChain` at the rollout fleets' (every 5 s).
 */
import '../src/polyfills.js'
import { processCpuSeconds } from '../scripts/proc-cpu.js'
import {
  type FidelityCapacities,
  type NodeWork,
  runRealRollout,
  startRealFleet,
  stopRealFleet,
} from '../simulations/fidelity/real-fleet.js'
import {
  lowerBoundSecondsOf,
  SWARM_SCENARIOS,
  type SwarmScenarioName,
} from '../simulations/fidelity/scenarios.js'
import {
  CHUNK_BYTES_DEFAULT,
  DEFAULT_BLOCK_INTERVAL_MS,
  DEFAULT_EMPTY_BLOCK_INTERVAL_MS,
} from '../src/constants.js'
import { runLibtorrentSwarm } from './anchors/libtorrent.js'
import { runRawLibp2p } from './anchors/raw-libp2p.js'
import { arg } from './process.js'

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

/** Start-up settles (connections, identify, the first empty blocks) before the idle window. */
const IDLE_SETTLE_MS = 10_000
/** Devices unfinished this many lower bounds (plus a minute) after the approval are stuck. */
const STUCK_AFTER_BOUNDS = 10
const STUCK_AFTER_EXTRA_MS = 60_000

function flagText(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback
}

/** The scenario's capacities with any flags given over them. */
function withFlags(c: FidelityCapacities, args: string[]): FidelityCapacities {
  return {
    ...c,
    devices: arg(args, 'devices', c.devices),
    imageBytes: arg(args, 'image-mib', c.imageBytes / MiB) * MiB,
    originUploadBps: arg(args, 'origin-up-kibps', c.originUploadBps / KiB) * KiB,
    deviceUploadBps: arg(args, 'device-up-kibps', c.deviceUploadBps / KiB) * KiB,
    deviceDownloadBps: arg(args, 'device-down-kibps', c.deviceDownloadBps / KiB) * KiB,
    bootstrap: flagText(args, 'bootstrap', 'mesh') === 'origin' ? 'origin' : 'mesh',
  }
}

export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000
}

interface RolloutRun {
  slowestSeconds: number
  originCopies: number
  stuckDevices: number
  firstChunkP50: number
  firstChunkMax: number
  cpuSecondsPerGiB: number
  cpuBusy: number
  cpuSecondsByRole: { origin: number; validators: number; devices: number }
  messagesPerChunk: number
}

async function fwmeshRollout(c: FidelityCapacities, run: number): Promise<RolloutRun> {
  const bound = lowerBoundSecondsOf(c)
  const real = await runRealRollout(c, `swarm-${run}`, {
    deadlineMs: STUCK_AFTER_BOUNDS * bound * 1000 + STUCK_AFTER_EXTRA_MS,
    keepDir: process.env.FWMESH_BENCH_KEEP === '1',
  })
  const done = real.completionSeconds.filter((t) => t !== null)
  const firsts = real.firstChunkSeconds.map((t) => t ?? Number.POSITIVE_INFINITY)
  const delivered = done.length * c.imageBytes
  return {
    slowestSeconds:
      done.length === real.completionSeconds.length ? Math.max(...done) : Number.POSITIVE_INFINITY,
    originCopies: real.originEgressCopies,
    stuckDevices: real.completionSeconds.length - done.length,
    firstChunkP50: median(firsts),
    firstChunkMax: Math.max(...firsts),
    cpuSecondsPerGiB: real.fleetCpuSeconds / Math.max(1, delivered / GiB),
    cpuBusy: real.cpuBusy,
    cpuSecondsByRole: real.cpuSecondsByRole,
    messagesPerChunk: messagesPerChunkOf(real.nodes, delivered / CHUNK_BYTES_DEFAULT),
  }
}

/**
 * Chunk-protocol messages every fleet node received, per chunk delivered to a device: a count,
 * so unlike CPU seconds it does not move with the machine's load, and the calibration prices
 * each message (simulations/fleet/cpu-costs.json).
 */
function messagesPerChunkOf(nodes: readonly NodeWork[], chunksDelivered: number): number {
  const received = nodes.reduce((sum, n) => sum + n.messagesReceived, 0)
  return received / Math.max(1, chunksDelivered)
}

/** Streams the raw anchor moves its bytes over: a device's several neighbours at once. */
const RAW_LIBP2P_STREAMS = 4

interface TorrentFigures {
  slowestSeconds: number
  ratioToBound: number
  originCopies: number
  cpuSecondsPerGiB: number
}

/**
 * libtorrent on the same image size, peer count and limits from one seed, and the same bytes
 * over plain streams of the node's transport stack; medians over the runs. libtorrent reports
 * why it is missing instead of figures when python3-libtorrent is not installed.
 */
async function anchors(c: FidelityCapacities, runs: number) {
  const torrent: TorrentFigures[] = []
  let unavailable: string | undefined
  const raw: number[] = []
  const rawMBps: number[] = []
  for (let run = 1; run <= runs; run++) {
    process.stderr.write(`swarm: anchors run ${run}/${runs}: libtorrent, raw libp2p\n`)
    const t = await runLibtorrentSwarm({
      peers: c.devices,
      imageBytes: c.imageBytes,
      seedUploadBps: c.originUploadBps,
      peerUploadBps: c.deviceUploadBps,
      peerDownloadBps: c.deviceDownloadBps,
    })
    if ('unavailable' in t) unavailable = t.unavailable
    else torrent.push(t)
    const r = await runRawLibp2p({
      senders: RAW_LIBP2P_STREAMS,
      bytesPerSender: Math.ceil((c.devices * c.imageBytes) / RAW_LIBP2P_STREAMS),
    })
    raw.push(r.cpuSecondsPerGiB)
    rawMBps.push(r.MBps)
  }
  const pick = (f: (r: TorrentFigures) => number) => round(median(torrent.map(f)))
  const libtorrent: TorrentFigures | { unavailable: string | undefined } =
    torrent.length > 0
      ? {
          slowestSeconds: pick((r) => r.slowestSeconds),
          ratioToBound: pick((r) => r.ratioToBound),
          originCopies: pick((r) => r.originCopies),
          cpuSecondsPerGiB: pick((r) => r.cpuSecondsPerGiB),
        }
      : { unavailable }
  return {
    libtorrent,
    rawLibp2p: {
      cpuSecondsPerGiB: round(median(raw)),
      MBps: round(median(rawMBps)),
      streams: RAW_LIBP2P_STREAMS,
    },
  }
}

async function rolloutScenario(name: SwarmScenarioName, args: string[], runs: number) {
  const c = withFlags(SWARM_SCENARIOS[name], args)
  const bound = lowerBoundSecondsOf(c)
  const results: RolloutRun[] = []
  for (let run = 1; run <= runs; run++) {
    process.stderr.write(
      `swarm: ${name} run ${run}/${runs}: fwmesh, ${c.devices} devices × ${c.imageBytes / MiB} MiB\n`,
    )
    results.push(await fwmeshRollout(c, run))
  }
  const pick = (f: (r: RolloutRun) => number) => round(median(results.map(f)))
  // --anchors 0 skips them, for a quick comparison of two builds of fwmesh alone.
  const anchor = arg(args, 'anchors', 1) === 0 ? null : await anchors(c, runs)
  const cpuSecondsPerGiB = pick((r) => r.cpuSecondsPerGiB)
  return {
    devices: c.devices,
    bootstrap: c.bootstrap,
    imageMiB: c.imageBytes / MiB,
    originUpKiBps: c.originUploadBps / KiB,
    deviceUpKiBps: c.deviceUploadBps / KiB,
    deviceDownKiBps: c.deviceDownloadBps / KiB,
    runs,
    slowestSeconds: pick((r) => r.slowestSeconds),
    lowerBoundSeconds: round(bound),
    ratioToBound: pick((r) => r.slowestSeconds / bound),
    originCopies: pick((r) => r.originCopies),
    stuckDevices: Math.max(...results.map((r) => r.stuckDevices)),
    stuckDevicesPerRun: results.map((r) => r.stuckDevices),
    firstChunkSeconds: { p50: pick((r) => r.firstChunkP50), max: pick((r) => r.firstChunkMax) },
    cpuSecondsPerGiB,
    messagesPerChunk: pick((r) => r.messagesPerChunk),
    machineCpuBusy: pick((r) => r.cpuBusy),
    cpuSecondsByRole: {
      origin: pick((r) => r.cpuSecondsByRole.origin),
      validators: pick((r) => r.cpuSecondsByRole.validators),
      devices: pick((r) => r.cpuSecondsByRole.devices),
    },
    ...(anchor
      ? {
          ...anchor,
          cpuVsLibtorrent:
            'cpuSecondsPerGiB' in anchor.libtorrent
              ? round(cpuSecondsPerGiB / anchor.libtorrent.cpuSecondsPerGiB)
              : null,
          cpuVsRawLibp2p: round(cpuSecondsPerGiB / anchor.rawLibp2p.cpuSecondsPerGiB),
        }
      : {}),
  }
}

/**
 * Each process's share of one core over the window, in percent: at the chain parameters a new
 * genesis gets by default (an empty block every 30 s), and at the rollout fleets' (every 5 s:
 * each empty block costs a validator ~0.1 s of CPU and every node its gossip and sync).
 */
async function idleScenario(args: string[], runs: number) {
  const production = await idleFleet(args, runs, {
    blockIntervalMs: DEFAULT_BLOCK_INTERVAL_MS,
    emptyBlockIntervalMs: DEFAULT_EMPTY_BLOCK_INTERVAL_MS,
  })
  const fastChain = await idleFleet(args, runs, undefined)
  return { ...production, fastChain }
}

async function idleFleet(args: string[], runs: number, chain: FidelityCapacities['chain']) {
  const c = { ...withFlags({ ...SWARM_SCENARIOS.linkBound }, args), ...(chain ? { chain } : {}) }
  const windowMs = arg(args, 'idle-seconds', 60) * 1000
  const follower: number[] = []
  const validator: number[] = []
  for (let run = 1; run <= runs; run++) {
    process.stderr.write(`swarm: idle run ${run}/${runs}: ${c.validators} validators, ${c.devices} devices\n`)
    const f = await startRealFleet(c)
    try {
      await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS))
      const before = await Promise.all(f.pids.map(processCpuSeconds))
      const started = performance.now()
      await new Promise((r) => setTimeout(r, windowMs))
      const after = await Promise.all(f.pids.map(processCpuSeconds))
      const seconds = (performance.now() - started) / 1000
      const percent = after.map((a, i) => ((a - before[i]!) / seconds) * 100)
      validator.push(median(percent.slice(0, f.validators.length)))
      follower.push(median(percent.slice(f.validators.length)))
    } finally {
      await stopRealFleet(f, { keepDir: process.env.FWMESH_BENCH_KEEP === '1' })
    }
  }
  return {
    validators: c.validators,
    devices: c.devices,
    emptyBlockIntervalSeconds: (chain?.emptyBlockIntervalMs ?? 5_000) / 1000,
    windowSeconds: windowMs / 1000,
    runs,
    followerCorePercent: round(median(follower)),
    validatorCorePercent: round(median(validator)),
  }
}

export async function main(args: string[]): Promise<void> {
  const which = flagText(args, 'scenario', 'all')
  const runs = arg(args, 'runs', 1)
  const names = which === 'all' ? ['linkBound', 'cpuBound', 'idle'] : [which]
  const out: Record<string, unknown> = { bench: 'swarm' }
  for (const name of names) {
    if (name === 'idle') out.idle = await idleScenario(args, runs)
    else if (name === 'linkBound' || name === 'cpuBound') out[name] = await rolloutScenario(name, args, runs)
    else throw new Error(`unknown scenario "${name}": linkBound, cpuBound, idle or all`)
  }
  process.stdout.write(`${JSON.stringify(out)}\n`)
}
