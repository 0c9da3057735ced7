/**
 * The confirm step (docs/lifecycle.md): after the install hook exited 0, and at the first start
 * after a reboot, the node asks the installer whether the version being installed is the one
 * that runs, and has it keep that version (`rauc status mark-good`, `mender commit`, a
 * bootloader variable). The agent gets a `ConfirmOutcome`; this is the I/O behind it.
 *
 * Where the answer comes from, first that applies:
 * 1. `device.confirm_command`, run with the version appended (`rauc.sh confirm 2.4.0`): exit 0
 *    runs and kept; 1 another version runs (the last line of stdout names it, `unknown` when the
 *    installer cannot); 2, any other exit, a signal or the timeout: unknown.
 * 2. `device.version_file`: the version it holds runs (the file is the OS's word).
 * 3. Neither: the install hook's exit 0 is the only evidence, so the version runs when the hook
 *    exited, and not when a restart may have cut it short.
 */
import { readFile } from 'node:fs/promises'
import type { ConfirmOutcome } from '../agent/install-outcome.js'
import { parseSemVer } from '../ledger/semver.js'
import { hookEnv, type InstallHookConfig, type InstallJob, runHook } from './install-hook.js'

/** What the confirm step knows of the device's configuration. */
export interface ConfirmSource {
  /** The confirm command and its timeout; null when none is configured. */
  readonly hook: InstallHookConfig | null
  readonly versionFile: string | null
}

/** Asks for `job.version`; `hookExited`: the install hook exited (0 or unknown) for it. Never rejects. */
export async function confirmInstall(
  source: ConfirmSource,
  job: InstallJob,
  hookExited: boolean,
): Promise<ConfirmOutcome> {
  if (source.hook) return runConfirmHook(source.hook, job)
  if (source.versionFile) {
    const running = await readVersionFile(source.versionFile)
    if (running === undefined) return { state: 'unknown', detail: `cannot read ${source.versionFile}` }
    if (running === job.version) return { state: 'running' }
    return { state: 'other', running, detail: `${source.versionFile} says ${running}` }
  }
  if (hookExited) return { state: 'running' }
  return { state: 'other', detail: 'the install hook may have been cut short, and nothing says what runs' }
}

/** Runs `confirm_command VERSION` and reads its exit (the table in examples/hooks/README.md). */
export async function runConfirmHook(config: InstallHookConfig, job: InstallJob): Promise<ConfirmOutcome> {
  if (!config.command[0]) return { state: 'unknown', detail: 'the confirm command is empty' }
  const end = await runHook(config, [job.version], hookEnv(job))
  if (end.kind === 'spawn-failed')
    return { state: 'unknown', detail: `the confirm command could not start: ${end.detail}` }
  const detail = end.stderr || end.stdout
  if (end.timedOut) return { state: 'unknown', detail: saying('the confirm command timed out', detail) }
  if (end.signal !== null)
    return { state: 'unknown', detail: `the confirm command was killed by ${end.signal}` }
  if (end.code === 0) return { state: 'running' }
  if (end.code === 1) {
    const named = lastLine(end.stdout)
    const running = named !== undefined && parseSemVer(named) ? named : undefined
    return { state: 'other', ...(running !== undefined ? { running } : {}), detail: end.stderr || end.stdout }
  }
  return { state: 'unknown', detail: saying(`the confirm command exited with ${end.code}`, detail) }
}

/** What happened, then what the hook said, if anything. */
function saying(what: string, said: string): string {
  return said ? `${what}: ${said}` : what
}

function lastLine(text: string): string | undefined {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
  return lines.at(-1)
}

/** The first line of a version file, or undefined when it cannot be read or is empty. */
export async function readVersionFile(path: string): Promise<string | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim()
    return text.length > 0 ? text.split('\n')[0]!.trim() : undefined
  } catch {
    return undefined
  }
}
