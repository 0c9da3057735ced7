/**
 * Shared parts of `npm run test:installers` (scripts/installers.ts): the result rows, how an
 * install outcome reads in the table, and small process helpers. Each installer's sandbox is
 * in its own file next to this one.
 */
import { spawn, spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import type { InstallOutcome } from '../../src/agent/install-outcome.js'
import { runConfirmHook } from '../../src/node/confirm-hook.js'
import { type InstallHookConfig, type InstallJob, runInstallHook } from '../../src/node/install-hook.js'

export const HOOKS = resolve('examples/hooks')

/** The hook's install_timeout in the timeout cases: the installer is blocked for good there
 * (a FIFO nobody writes, a bootloader that never returns), so any value is reached. */
export const HANG_TIMEOUT_MS = 3_000
/** The install_timeout of every other case: far above what a sandboxed install takes. */
export const CASE_TIMEOUT_MS = 120_000
/** SIGTERM to SIGKILL: room for a hook's TERM trap to ask its installer what happened. */
export const KILL_GRACE_MS = 10_000
/** Polls of a daemon's readiness (each after POLL_MS) before the sandbox gives up. */
export const READY_POLLS = 300
export const POLL_MS = 100

export type Expected = 'installed' | 'failed' | 'failed (timed out)' | 'unknown' | 'confirmed' | 'rolled back'

export interface Row {
  readonly installer: string
  readonly case: string
  readonly expected: Expected | 'skipped'
  readonly outcome: string
  readonly ok: boolean | 'skipped'
}

/** The table's words for a hook run: the outcome fwmesh would report, with its detail. */
export function describeOutcome(outcome: InstallOutcome): string {
  if (outcome.ok) return 'installed'
  const last = outcome.detail.split('\n').filter(Boolean).slice(-1).join('')
  // A hook stopped at its timeout that says "unknown:" knows the new version may boot: the
  // node's runner makes it `unknown`, and the agent asks the confirm step instead of failing.
  if (outcome.code === 'unknown') return `unknown: ${last}`
  if (outcome.code === 'timeout') return `failed (timed out): ${last}`
  return `failed: ${last}`
}

/** A row for a hook run: ok when the outcome is the expected one and its detail says `reason`. */
export function row(
  installer: string,
  name: string,
  expected: Expected,
  outcome: string,
  reason?: RegExp,
): Row {
  const matches = outcome === expected || outcome.startsWith(`${expected}:`)
  return {
    installer,
    case: name,
    expected,
    outcome,
    ok: matches && (reason === undefined || reason.test(outcome)),
  }
}

/** Runs the hook as the node does: runInstallHook, the real code path. */
export function install(
  hook: string,
  job: InstallJob,
  env: Record<string, string>,
  timeoutMs = CASE_TIMEOUT_MS,
): Promise<InstallOutcome> {
  const config: InstallHookConfig = {
    command: [resolve(HOOKS, hook)],
    env,
    timeoutMs,
    killGraceMs: KILL_GRACE_MS,
  }
  return runInstallHook(config, job)
}

/**
 * Runs `hook confirm VERSION` through the node's own runner (runConfirmHook, as the agent's
 * confirm step does after a reboot) and names what the agent makes of it there: `confirmed`,
 * `rolled back: <the version that runs>`, or `unknown` (asked again later).
 */
export async function confirm(hook: string, version: string, env: Record<string, string>): Promise<string> {
  const outcome = await runConfirmHook(
    {
      command: [resolve(HOOKS, hook), 'confirm'],
      env,
      timeoutMs: CASE_TIMEOUT_MS,
      killGraceMs: KILL_GRACE_MS,
    },
    { imagePath: '', version, release: 'test', product: 'gw' },
  )
  const last = (text: string) => text.split('\n').filter(Boolean).slice(-1).join('')
  switch (outcome.state) {
    case 'running':
      return 'confirmed'
    case 'other':
      return `rolled back: ${outcome.running ?? 'unknown version'} runs: ${last(outcome.detail)}`
    case 'unknown':
      return `unknown: ${last(outcome.detail)}`
  }
}

/** Runs a command to completion; throws with its output when it fails. */
export function sh(
  file: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): string {
  const r = spawnSync(file, args, { ...opts, encoding: 'utf8', timeout: CASE_TIMEOUT_MS })
  if (r.status !== 0) {
    throw new Error(`${file} ${args.join(' ')} exited with ${r.status ?? r.signal}: ${r.stderr || r.stdout}`)
  }
  return r.stdout
}

/** Whether a program is on PATH. */
export function have(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0
}

/** Starts a background daemon in a process group of its own; `stop` ends that group. */
export function daemon(
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): { stop(): void; exited(): boolean } {
  const child = spawn(file, args, { env, stdio: 'ignore', detached: true })
  let gone = false
  child.on('exit', () => {
    gone = true
  })
  return {
    exited: () => gone,
    stop: () => {
      if (gone || child.pid === undefined) return
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // Already gone.
      }
    },
  }
}

/** Waits until `ready()` holds, polling; throws after READY_POLLS tries. */
export async function waitFor(what: string, ready: () => boolean): Promise<void> {
  for (let i = 0; i < READY_POLLS; i++) {
    if (ready()) return
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
  throw new Error(`${what} did not become ready`)
}

/** A self-signed signing certificate (RSA key + cert) in `dir`, for SWUpdate's CMS and RAUC. */
export function signingCert(dir: string): { key: string; cert: string } {
  const key = resolve(dir, 'key.pem')
  const cert = resolve(dir, 'cert.pem')
  sh('openssl', ['genrsa', '-out', key, '2048'])
  sh('openssl', [
    'req',
    '-x509',
    '-new',
    '-key',
    key,
    '-out',
    cert,
    '-days',
    '3650',
    '-subj',
    '/CN=fwmesh installers test',
    '-addext',
    'extendedKeyUsage=emailProtection',
  ])
  return { key, cert }
}
