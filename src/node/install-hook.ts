/**
 * The install hook runner: runs the product's install command (RAUC, SWUpdate, Mender or a
 * script; examples in examples/hooks/) on a verified image and turns what happened into the
 * agent's `InstallOutcome`. This is I/O, so it lives in src/node; the agent only sees the
 * outcome.
 *
 * Contract with a hook:
 * - argv: the configured command, then the image path and the version. No shell is involved:
 *   nothing in the path is interpreted (a hook that wants a shell is a shell script).
 * - environment: the node's own, plus `FWMESH_IMAGE`, `FWMESH_VERSION`, `FWMESH_RELEASE`,
 *   `FWMESH_PRODUCT` (and `FWMESH_HARDWARE` when known), plus any configured extras.
 * - exit code 0 means installed (possibly pending a reboot); anything else means failed, and
 *   the last of its stderr (or stdout, when stderr is empty) goes into the report.
 * - it runs in a process group of its own; at the timeout the whole group gets SIGTERM, then
 *   SIGKILL after a grace period, so helpers it started do not outlive it.
 * - stdin is closed; output is kept to its last INSTALL_HOOK_OUTPUT_TAIL_BYTES bytes.
 */
import { spawn } from 'node:child_process'
import type { InstallOutcome } from '../agent/install-outcome.js'
import {
  INSTALL_HOOK_KILL_GRACE_MS,
  INSTALL_HOOK_OUTPUT_DRAIN_MS,
  INSTALL_HOOK_OUTPUT_TAIL_BYTES,
  INSTALL_HOOK_TIMEOUT_MS,
} from '../constants.js'
import { setLongTimeout } from './timers.js'

export interface InstallHookConfig {
  /** The program and its first arguments, like `["/usr/lib/fwmesh/hooks/rauc.sh"]`. */
  readonly command: readonly string[]
  readonly timeoutMs?: number
  /** Between SIGTERM and SIGKILL after the timeout. */
  readonly killGraceMs?: number
  /** Bytes of stdout and of stderr kept, the last ones. */
  readonly outputTailBytes?: number
  /** How long output pipes may stay open after the hook exited. */
  readonly drainMs?: number
  readonly cwd?: string
  /** Extra environment variables; the node's environment is inherited unless `inheritEnv` is false. */
  readonly env?: Readonly<Record<string, string>>
  readonly inheritEnv?: boolean
}

/** What to install: the agent's `install` output plus the device's product. */
export interface InstallJob {
  readonly imagePath: string
  readonly version: string
  readonly release: string
  readonly product: string
  readonly hardware?: string
}

export interface InstallHookOptions {
  /** Every chunk of the hook's output as it comes, for the node's log. */
  readonly onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void
}

/** Keeps the last `max` bytes written to it, in bounded memory. */
class Tail {
  private chunks: Buffer[] = []
  private size = 0

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    if (this.max === 0) return
    this.chunks.push(chunk)
    this.size += chunk.length
    // Compact once twice the limit is held: amortised O(1) per byte, memory below 2 × max.
    if (this.size > 2 * this.max) {
      const all = Buffer.concat(this.chunks)
      this.chunks = [all.subarray(all.length - this.max)]
      this.size = this.max
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks)
    const cut = all.length > this.max ? all.subarray(all.length - this.max) : all
    // The cut may split a UTF-8 sequence: drop the replacement characters it makes at the start.
    return cut
      .toString('utf8')
      .replace(/^\uFFFD+/, '')
      .trim()
  }
}

/** How a hook process ended, before it is read as an install or a confirmation. */
export type HookEnd =
  | { readonly kind: 'spawn-failed'; readonly detail: string }
  | {
      readonly kind: 'ended'
      /** The exit code; null when a signal ended it. */
      readonly code: number | null
      readonly signal: NodeJS.Signals | null
      /** It ran past its timeout and was killed (or still ran after SIGKILL: `stuck`). */
      readonly timedOut: boolean
      readonly stuck: boolean
      /** The last of its output, as text. */
      readonly stdout: string
      readonly stderr: string
    }

/**
 * Runs the install hook for one job and resolves with its outcome; never rejects. A command
 * that cannot start (missing, not executable, an empty command) is `spawn-failed`. A timeout
 * whose output says `unknown:` (its last line, by the contract) is `unknown`: the hook said the installer may
 * still finish (examples/hooks/rauc.sh), so the confirm step decides.
 */
export async function runInstallHook(
  config: InstallHookConfig,
  job: InstallJob,
  options: InstallHookOptions = {},
): Promise<InstallOutcome> {
  if (!config.command[0]) return { ok: false, code: 'spawn-failed', detail: 'the install command is empty' }
  const end = await runHook(config, [job.imagePath, job.version], hookEnv(job), options)
  if (end.kind === 'spawn-failed') return { ok: false, code: 'spawn-failed', detail: end.detail }
  const detail = end.stderr || end.stdout
  if (end.timedOut) {
    if (/\bunknown:/.test(detail)) return { ok: false, code: 'unknown', detail }
    if (end.stuck)
      return { ok: false, code: 'timeout', detail: `${detail} (still running after SIGKILL)`.trim() }
    return { ok: false, code: 'timeout', ...(end.signal ? { signal: end.signal } : {}), detail }
  }
  if (end.signal !== null) return { ok: false, code: 'signal', signal: end.signal, detail }
  if (end.code === 0) return { ok: true }
  return { ok: false, code: 'exit', exitCode: end.code ?? -1, detail }
}

/** The environment a hook gets about its job, beside the node's own and the configured extras. */
export function hookEnv(job: InstallJob): Record<string, string> {
  return {
    FWMESH_IMAGE: job.imagePath,
    FWMESH_VERSION: job.version,
    FWMESH_RELEASE: job.release,
    FWMESH_PRODUCT: job.product,
    ...(job.hardware !== undefined ? { FWMESH_HARDWARE: job.hardware } : {}),
  }
}

/**
 * Runs a hook, the configured command with `extraArgs` appended, and resolves with how it
 * ended; never rejects. See the contract at the top of this file.
 */
export function runHook(
  config: InstallHookConfig,
  extraArgs: readonly string[],
  jobEnv: Readonly<Record<string, string>>,
  options: InstallHookOptions = {},
): Promise<HookEnd> {
  const timeoutMs = config.timeoutMs ?? INSTALL_HOOK_TIMEOUT_MS
  const killGraceMs = config.killGraceMs ?? INSTALL_HOOK_KILL_GRACE_MS
  const drainMs = config.drainMs ?? INSTALL_HOOK_OUTPUT_DRAIN_MS
  const tailBytes = config.outputTailBytes ?? INSTALL_HOOK_OUTPUT_TAIL_BYTES
  const [program, ...args] = config.command
  if (program === undefined || program === '') {
    return Promise.resolve({ kind: 'spawn-failed', detail: 'the command is empty' })
  }
  const env: Record<string, string | undefined> = {
    ...(config.inheritEnv === false ? {} : process.env),
    ...config.env,
    ...jobEnv,
  }
  const argv = [...args, ...extraArgs]

  return new Promise((resolve) => {
    const stdout = new Tail(tailBytes)
    const stderr = new Tail(tailBytes)
    const timers: NodeJS.Timeout[] = []
    let timedOut = false
    let settled = false
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined

    const child = spawn(program, argv, {
      cwd: config.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // A process group of its own, so the timeout reaches everything the hook started.
      detached: true,
    })

    const killGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return
      try {
        process.kill(-child.pid, signal)
      } catch {
        // The group is already gone.
      }
    }

    const finish = (end: HookEnd) => {
      if (settled) return
      settled = true
      timeout.clear()
      for (const t of timers) clearTimeout(t)
      child.stdout?.destroy()
      child.stderr?.destroy()
      resolve(end)
    }

    const ended = (code: number | null, signal: NodeJS.Signals | null, stuck: boolean): HookEnd => ({
      kind: 'ended',
      code,
      signal,
      timedOut,
      stuck,
      stdout: stdout.text(),
      stderr: stderr.text(),
    })

    const fromExit = () => finish(ended(exit!.code, exit!.signal, false))

    // The configured timeout may be days: setLongTimeout, not setTimeout, which fires a delay
    // over 24.8 days after 1 ms (timers.ts).
    const timeout = setLongTimeout(() => {
      timedOut = true
      killGroup('SIGTERM')
      timers.push(
        setTimeout(() => {
          killGroup('SIGKILL')
          // A process stuck in the kernel survives even SIGKILL: give up waiting, so the agent
          // is never blocked on it.
          timers.push(setTimeout(() => finish(ended(null, null, true)), killGraceMs))
        }, killGraceMs),
      )
    }, timeoutMs)

    child.stdout?.on('data', (chunk: Buffer) => {
      stdout.push(chunk)
      options.onOutput?.('stdout', chunk)
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr.push(chunk)
      options.onOutput?.('stderr', chunk)
    })
    child.on('error', (error) => {
      // Before a spawn it means the command could not start; after one (a failed kill) the
      // exit still comes and decides.
      if (child.pid === undefined) finish({ kind: 'spawn-failed', detail: error.message })
    })
    child.on('exit', (code, signal) => {
      exit = { code, signal }
      // An exit before the timeout stops the clock; helpers the hook left running on purpose
      // (a delayed reboot) are not killed.
      if (!timedOut) timeout.clear()
      // Wait for the pipes to drain, but not for a background process that holds them.
      timers.push(setTimeout(fromExit, drainMs))
    })
    child.on('close', () => {
      if (exit) fromExit()
    })
  })
}
