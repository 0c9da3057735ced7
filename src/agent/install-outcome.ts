/**
 * What became of one run of the install hook, as the driver tells the agent. The node's hook
 * runner (src/node/install-hook.ts) returns exactly this; the simulator makes it up.
 */
import { reportDetail } from './detail.js'

export type InstallFailureCode = 'exit' | 'timeout' | 'signal' | 'spawn-failed' | 'unknown'

export type InstallOutcome =
  | { readonly ok: true }
  | {
      readonly ok: false
      /**
       * `exit`: the hook exited with a non-zero code. `timeout`: it ran past its time and was
       * killed. `signal`: something else killed it. `spawn-failed`: it never started (missing
       * command, no permission). `unknown`: it timed out, but said (a last line with
       * `unknown:`) that the installer may still finish: the confirm step decides.
       */
      readonly code: InstallFailureCode
      readonly exitCode?: number
      /** The signal's name, like `SIGSEGV`, for `signal` (and `timeout`, when known). */
      readonly signal?: string
      /** The last of the hook's error output, or the reason it did not start. */
      readonly detail: string
    }

/** The report detail for a failed run: what happened first, then the hook's last words. */
export function installFailureDetail(outcome: Extract<InstallOutcome, { ok: false }>): string {
  switch (outcome.code) {
    case 'exit':
      return reportDetail(`install hook exited with code ${outcome.exitCode ?? '?'}`, outcome.detail)
    case 'timeout':
      return reportDetail('install hook timed out and was killed', outcome.detail)
    case 'signal':
      return reportDetail(`install hook killed by ${outcome.signal ?? 'a signal'}`, outcome.detail)
    case 'spawn-failed':
      return reportDetail('install hook could not start', outcome.detail)
    case 'unknown':
      return reportDetail('install hook timed out with the outcome unknown', outcome.detail)
  }
}

/**
 * What the confirm step found (docs/lifecycle.md): the confirm hook's exit 0, 1 or 2, or what
 * the driver read from the version file when there is no hook.
 * - `running`: the version being installed runs, and the installer was told to keep it.
 * - `other`: another version runs (`running`, when the installer could name it).
 * - `unknown`: the installer could not be asked (busy, not running, the hook timed out).
 */
export type ConfirmOutcome =
  | { readonly state: 'running' }
  | { readonly state: 'other'; readonly running?: string; readonly detail: string }
  | { readonly state: 'unknown'; readonly detail: string }
