/**
 * The raw-libp2p anchor: how fast the node's own transport stack (TCP + noise + yamux, from
 * src/node/transport.ts) moves bytes between processes on 127.0.0.1 when nothing else runs on
 * it: no chunking, hashing, disk or protocol. One receiver process and `senders` sender
 * processes, each sender writing into ONE long-lived stream. The swarm benchmark prints it
 * beside fwmesh's transfer figures, measured in the same run.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { totalCpuSeconds } from '../../scripts/proc-cpu.js'

const GiB = 2 ** 30

import type { ChildMessage } from './raw-libp2p-child.js'

export interface RawLibp2pOptions {
  /** Sender processes, each with one stream to the receiver. */
  readonly senders: number
  readonly bytesPerSender: number
  /** Bytes per `stream.send` (default 256 KiB, fwmesh's chunk size). */
  readonly writeBytes?: number
}

export interface RawLibp2pResult {
  /** Total bytes (MB = 10^6) over the receiver's time from the first byte to the last. */
  readonly MBps: number
  /** CPU seconds (user + system) of every anchor process during the transfer, per GiB moved. */
  readonly cpuSecondsPerGiB: number
  readonly seconds: number
  readonly bytes: number
}

const WRITE_BYTES_DEFAULT = 256 * 1024
/** Starting the processes and dialling: a few seconds, much longer on a loaded machine. */
const SETUP_TIMEOUT_MS = 60_000
/** The transfer itself: 1 GiB takes about 5 s on a free core; far above it means stuck. */
const TRANSFER_TIMEOUT_MS = 300_000

const child = fileURLToPath(new URL('./raw-libp2p-child.ts', import.meta.url))
// The repository root: `--import tsx` resolves from the working directory.
const root = fileURLToPath(new URL('../../', import.meta.url))

/** Starts a child with tsx as the real node process, so its pid is the one to read in /proc. */
function spawnChild(args: string[]): ChildProcess {
  return fork(child, args, {
    cwd: root,
    execPath: process.execPath,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
}

/** The first message of `type` from a child, or a rejection if it exits or time runs out. */
function next<T extends ChildMessage['type']>(
  proc: ChildProcess,
  type: T,
  timeoutMs: number,
): Promise<Extract<ChildMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => done(new Error(`raw-libp2p anchor: no "${type}" in ${timeoutMs} ms`)),
      timeoutMs,
    )
    const onMessage = (msg: ChildMessage) => {
      if (msg.type === type) done(null, msg as Extract<ChildMessage, { type: T }>)
    }
    const onExit = (code: number | null) => done(new Error(`raw-libp2p anchor: a child exited (${code})`))
    function done(error: Error | null, msg?: Extract<ChildMessage, { type: T }>) {
      clearTimeout(timer)
      proc.off('message', onMessage)
      proc.off('exit', onExit)
      if (error) reject(error)
      else resolve(msg!)
    }
    proc.on('message', onMessage)
    proc.on('exit', onExit)
  })
}

/** Runs the anchor once and kills its processes, also on failure. */
export async function runRawLibp2p(opts: RawLibp2pOptions): Promise<RawLibp2pResult> {
  const writeBytes = opts.writeBytes ?? WRITE_BYTES_DEFAULT
  const total = opts.senders * opts.bytesPerSender
  const procs: ChildProcess[] = []
  try {
    const receiver = spawnChild(['receiver', String(total)])
    procs.push(receiver)
    const { addr } = await next(receiver, 'listening', SETUP_TIMEOUT_MS)
    const senders = Array.from({ length: opts.senders }, () =>
      spawnChild(['sender', addr, String(opts.bytesPerSender), String(writeBytes)]),
    )
    procs.push(...senders)
    await Promise.all(senders.map((s) => next(s, 'ready', SETUP_TIMEOUT_MS)))

    const pids = procs.map((p) => p.pid!)
    const finished = next(receiver, 'done', TRANSFER_TIMEOUT_MS)
    const cpuBefore = await totalCpuSeconds(pids)
    for (const s of senders) s.send({ type: 'go' })
    const { bytes, seconds } = await finished
    const cpuAfter = await totalCpuSeconds(pids)
    return {
      MBps: bytes / 1e6 / seconds,
      cpuSecondsPerGiB: (cpuAfter - cpuBefore) / (bytes / GiB),
      seconds,
      bytes,
    }
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
  }
}
