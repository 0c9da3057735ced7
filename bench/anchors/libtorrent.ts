/**
 * The libtorrent anchor: the same distribution as fwmesh's swarm benchmark (one seed, N peers,
 * one OS process each, on 127.0.0.1, under the same per-node rate limits) done by libtorrent
 * 2.0 through Debian's python3-libtorrent (`npm run bench:install-anchors`). The swarm
 * benchmark runs it in the same run as fwmesh and prints it beside fwmesh's figures. The swarm
 * itself is libtorrent-swarm.py; this module starts it, bounds its time and cleans up.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { distributionBounds } from '../../simulations/report/bounds.js'

/** Debian's python3-libtorrent is importable by the system python only (not pyenv's or a venv's). */
export const SYSTEM_PYTHON = '/usr/bin/python3'

/** What `runLibtorrentSwarm` returns instead of figures when the module cannot be imported. */
export const LIBTORRENT_UNAVAILABLE = 'python3-libtorrent is not installed: run npm run bench:install-anchors'

export interface LibtorrentSwarmOptions {
  /** Downloading peers (the seed comes on top). */
  readonly peers: number
  readonly imageBytes: number
  /** Rate limits in bytes per second, all positive (the lower bound needs them finite). */
  readonly seedUploadBps: number
  readonly peerUploadBps: number
  readonly peerDownloadBps: number
  /** Piece size (default 256 KiB, fwmesh's chunk size). */
  readonly pieceBytes?: number
  /** From the clock's start to the last peer's completion (default 300 s). */
  readonly timeoutMs?: number
  /** The python that imports libtorrent (default /usr/bin/python3); tests point it elsewhere. */
  readonly python?: string
}

export interface LibtorrentResult {
  /** Seconds from the start (every torrent added, connections asked for) to the last completion. */
  readonly slowestSeconds: number
  /** Kumar–Ross lower bound for these capacities (`swarmLowerBoundSeconds`). */
  readonly lowerBoundSeconds: number
  readonly ratioToBound: number
  /** Payload bytes the seed uploaded, in images. */
  readonly originCopies: number
  /** CPU seconds of the seed's and every peer's process over the distribution, per GiB received. */
  readonly cpuSecondsPerGiB: number
}

const PIECE_BYTES_DEFAULT = 256 * 1024
const TIMEOUT_MS_DEFAULT = 300_000
/**
 * On top of timeoutMs: writing and hashing the image and starting N+1 sessions before the clock
 * starts, and the processes' shutdown after it. Beyond that the swarm is killed.
 */
const SETUP_AND_SHUTDOWN_MS = 120_000
/** After SIGTERM, how long the coordinator gets to stop its processes before SIGKILL. */
const KILL_GRACE_MS = 10_000

const script = fileURLToPath(new URL('./libtorrent-swarm.py', import.meta.url))

/** The Kumar–Ross lower bound on the distribution time: max(F/u_s, N·F/(u_s + N·u_p), F/d_min). */
export function swarmLowerBoundSeconds(
  opts: Pick<
    LibtorrentSwarmOptions,
    'peers' | 'imageBytes' | 'seedUploadBps' | 'peerUploadBps' | 'peerDownloadBps'
  >,
): number {
  const peer = { uploadBps: opts.peerUploadBps, downloadBps: opts.peerDownloadBps }
  return distributionBounds({
    fileBytes: opts.imageBytes,
    seedUploadBps: opts.seedUploadBps,
    peers: Array.from({ length: opts.peers }, () => peer),
  }).lowerBoundSeconds
}

/** Whether `python` can import libtorrent (false too when there is no such python). */
export function libtorrentAvailable(python: string = SYSTEM_PYTHON): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(python, ['-c', 'import libtorrent'], { stdio: 'ignore' })
    child.on('error', () => resolve(false))
    child.on('exit', (code) => resolve(code === 0))
  })
}

/**
 * Runs the libtorrent swarm once, or returns `{ unavailable }` when python3-libtorrent cannot
 * be imported. Throws if the swarm fails or times out; its processes and files are gone either way.
 */
export async function runLibtorrentSwarm(
  opts: LibtorrentSwarmOptions,
): Promise<LibtorrentResult | { unavailable: string }> {
  const python = opts.python ?? SYSTEM_PYTHON
  if (!(await libtorrentAvailable(python))) return { unavailable: LIBTORRENT_UNAVAILABLE }
  for (const key of ['seedUploadBps', 'peerUploadBps', 'peerDownloadBps'] as const)
    if (!(opts[key] > 0)) throw new RangeError(`runLibtorrentSwarm: ${key} must be positive`)
  const timeoutMs = opts.timeoutMs ?? TIMEOUT_MS_DEFAULT
  const workDir = await mkdtemp(join(tmpdir(), 'fwmesh-libtorrent-'))
  try {
    const out = await runScript(
      python,
      {
        peers: opts.peers,
        imageBytes: opts.imageBytes,
        seedUploadBps: opts.seedUploadBps,
        peerUploadBps: opts.peerUploadBps,
        peerDownloadBps: opts.peerDownloadBps,
        pieceBytes: opts.pieceBytes ?? PIECE_BYTES_DEFAULT,
        timeoutSeconds: timeoutMs / 1000,
        workDir,
      },
      timeoutMs + SETUP_AND_SHUTDOWN_MS,
    )
    const swarm = JSON.parse(out) as {
      slowestSeconds: number
      originCopies: number
      cpuSecondsPerGiB: number
    }
    const lowerBoundSeconds = swarmLowerBoundSeconds(opts)
    return {
      slowestSeconds: swarm.slowestSeconds,
      lowerBoundSeconds,
      ratioToBound: swarm.slowestSeconds / lowerBoundSeconds,
      originCopies: swarm.originCopies,
      cpuSecondsPerGiB: swarm.cpuSecondsPerGiB,
    }
  } finally {
    await rm(workDir, { recursive: true, force: true })
  }
}

/** Runs the coordinator, returns its stdout; kills its whole process group past `limitMs`. */
function runScript(python: string, input: object, limitMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout can end the coordinator and its swarm together.
    const child = spawn(python, [script, JSON.stringify(input)], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.on('data', (d: Buffer) => {
      stdout += d
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d
    })
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal)
      } catch {
        // Already gone.
      }
    }
    const timer = setTimeout(() => {
      timedOut = true
      killGroup('SIGTERM')
      setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS).unref()
    }, limitMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      // Whatever the coordinator left behind (it never should) goes with it.
      killGroup('SIGKILL')
      if (code === 0 && !timedOut) resolve(stdout)
      else
        reject(
          new Error(
            `libtorrent swarm ${timedOut ? `timed out after ${limitMs} ms` : `exited with ${code}`}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`,
          ),
        )
    })
  })
}
