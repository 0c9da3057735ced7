import { toPlainJson } from '../codec/json.js'

/**
 * How the CLI speaks: one clear sentence per user error and a documented exit code, never a
 * stack trace; `--json` output for scripts.
 */

/** Exit codes of every `fwmesh` command (documented in `fwmesh --help`). */
export const ExitCode = {
  ok: 0,
  /** Bad input: a missing file, a bad key, a malformed argument. */
  userError: 1,
  /** The command line itself is wrong (unknown option, missing argument). */
  usage: 2,
  /** The local node could not be reached. */
  nodeUnreachable: 3,
  /** The ledger refused a transaction; the reason is printed. */
  rejected: 4,
  /** The ledger on disk failed verification. */
  corrupt: 5,
  /** A wait (for a commit, a rollout) ran out of time. */
  timeout: 6,
  /**
   * `fwmesh status`: the chain is not live. Its newest block is older than the node's
   * `ledger.max_chain_age` (validators stopped, or blocks withheld from the node), so the
   * device starts no download or install. The status itself is printed as usual.
   */
  stale: 7,
  /**
   * `fwmesh node`: an address it must listen on (`api.listen`, `network.listen`) is taken, not
   * an address of this machine, or needs privileges. Nothing was started.
   */
  listen: 8,
  /**
   * `rollout status --watch`, `release rollout --wait`: every eligible device is done, and at
   * least one of them failed to install (the failed devices and their reasons are printed).
   */
  rolloutFailed: 9,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** A failure the CLI reports as one sentence and an exit code. */
export class CliError extends Error {
  override name = 'CliError'
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.userError,
    /** Extra machine-readable detail for `--json` (e.g. a rejection code). */
    readonly detail?: Record<string, unknown>,
    /**
     * The command already printed its result, which says what is wrong: with `--json` no
     * second object follows it on stdout (scripts read one), only the exit code tells.
     */
    readonly resultPrinted = false,
  ) {
    super(message)
  }
}

export interface Output {
  readonly json: boolean
  /** A result: JSON on stdout with --json, else the human text. */
  result(value: unknown, human: () => string): void
  /** Progress and chatter: stderr, never with --json. */
  info(text: string): void
}

export function makeOutput(json: boolean): Output {
  return {
    json,
    result(value, human) {
      process.stdout.write(json ? `${JSON.stringify(toPlainJson(value), null, 2)}\n` : `${human()}\n`)
    },
    info(text) {
      if (!json) process.stderr.write(`${text}\n`)
    },
  }
}

/** Prints an error as the user should see it and returns its exit code. */
export function reportError(error: unknown, json: boolean): ExitCode {
  if (error instanceof CliError) {
    if (json && error.resultPrinted) return error.exitCode
    if (json)
      process.stdout.write(
        `${JSON.stringify({ error: error.message, exitCode: error.exitCode, ...error.detail })}\n`,
      )
    else process.stderr.write(`fwmesh: ${error.message}\n`)
    return error.exitCode
  }
  // Anything else is our bug: still one line for the user, the stack only on request.
  const message = error instanceof Error ? error.message : String(error)
  process.stderr.write(`fwmesh: unexpected error: ${message}\n`)
  if (process.env.FWMESH_DEBUG) process.stderr.write(`${(error as Error).stack ?? ''}\n`)
  return ExitCode.userError
}

/** A list for people: one line per row, or `none` when there is no row. */
export function linesOr<T>(rows: readonly T[], none: string, line: (row: T) => string): string {
  return rows.length === 0 ? none : rows.map(line).join('\n')
}
