/**
 * The agent's persisted state: a small plain record, encoded as canonical DAG-CBOR with a
 * format version, and a typed decoder. The driver writes the bytes of every `persist` output
 * durably (atomically: write, fsync, rename) before it acts on later outputs, and hands the
 * last bytes back at boot. A file that is too large, not DAG-CBOR, not shaped like a state,
 * inconsistent, or of another format version is a typed error: the agent then starts from
 * idle with the version the driver says is running, which is always safe (the worst case is
 * a repeated download and a repeated report).
 */
import { type DecodeError, decodeCbor, encodeCbor } from '../codec/cbor.js'
import { err, ok, type Result } from '../codec/result.js'
import { array, bool, bytes, nullable, oneOf, struct, text, uint } from '../codec/schema.js'
import {
  AGENT_CONFIRM_ATTEMPTS_MAX,
  AGENT_DOWNLOAD_ATTEMPTS_MAX,
  AGENT_GIVEN_UP_RELEASES_MAX,
  AGENT_IMAGE_PATH_LENGTH_MAX,
  AGENT_INSTALL_ATTEMPTS_MAX,
  AGENT_PENDING_REPORTS_MAX,
  AGENT_RELEASE_ID_LENGTH_MAX,
  AGENT_REPORT_ATTEMPTS_MAX,
  AGENT_STATE_BYTES_MAX,
  BOOT_ID_LENGTH_MAX,
  IMAGE_BYTES_MAX,
  REPORT_DETAIL_LENGTH_MAX,
  VERSION_LENGTH_MAX,
} from '../constants.js'
import { parseSemVer } from '../ledger/semver.js'
import { REPORT_STATUSES, type ReportStatus } from '../ledger/tx.js'

/** The format version of the encoding; a decoder refuses any other. */
export const AGENT_STATE_VERSION = 1

/**
 * Where the agent is with its target release.
 * - `idle`: no target.
 * - `downloading`: a fetch is requested (`retryAt` null) or waits for its retry time.
 * - `verifying`: the image is complete; the driver hashes the whole file.
 * - `waiting-for-window`: the image verified; waiting for the maintenance window.
 * - `installing`: the install hook runs.
 * - `confirming`: the driver asks the installer (the confirm hook) which version runs, and
 *   has it keep the new one; `retryAt` set while waiting to ask again after "unknown".
 * - `pending-reboot`: the image is written and the old version runs until a reboot.
 * - `reporting`: the outcome is decided; its report waits to be seen committed.
 */
export const AGENT_PHASES = [
  'idle',
  'downloading',
  'verifying',
  'waiting-for-window',
  'installing',
  'confirming',
  'pending-reboot',
  'reporting',
] as const
export type AgentPhase = (typeof AGENT_PHASES)[number]

/** The release the agent works on, copied from its ledger record. */
export interface AgentTarget {
  readonly release: string
  readonly version: string
  readonly manifest: string
  readonly imageSize: number
  readonly imageSha256: Uint8Array
}

/** An install report submitted and not yet seen committed. */
export interface PendingReport {
  /** The agent's sequence number of the report; the driver uses it as the transaction nonce. */
  readonly id: number
  readonly status: ReportStatus
  readonly release: string
  readonly imageSha256: Uint8Array
  /** The report's `time` field: when the agent decided it, in ms since the epoch. */
  readonly time: number
  readonly detail?: string
  /** The version the device runs, for a `rolled-back` report that knows it. */
  readonly running?: string
  /** Submissions so far. */
  readonly attempts: number
  /** When to submit again if nothing was heard. */
  readonly nextAt: number
}

export interface AgentState {
  readonly phase: AgentPhase
  /** Null exactly when `phase` is `idle`. */
  readonly target: AgentTarget | null
  readonly downloadAttempts: number
  /** In `downloading`: when to request the fetch again after a failure; null while one runs. */
  readonly retryAt: number | null
  readonly installAttempts: number
  /** The boot (the driver's boot id) in which the current install's hook ran; null before. */
  readonly installBoot: string | null
  /**
   * True once the hook of the current install exited 0 (or "unknown"): a version other than
   * the target then means pending a reboot, or rolled back after one. False while it may have
   * been cut short (a restart during `installing`): the install is begun again.
   */
  readonly hookExited: boolean
  /** Confirmations that answered "unknown", for the current install. */
  readonly confirmAttempts: number
  /** Where the driver put the image, if it said. */
  readonly imagePath: string | null
  readonly lastError: string | null
  /** The newest version known to run: what the OS reported at boot, or a confirmed install. */
  readonly installed: string
  /** Releases given up on, oldest first. */
  readonly givenUp: readonly string[]
  readonly reports: readonly PendingReport[]
  readonly nextReportId: number
  /** In `reporting`: the id of the outcome report the agent waits for. */
  readonly finalReport: number | null
}

/** Why persisted bytes were not accepted. */
export type AgentStateError =
  | { readonly code: 'too-large'; readonly message: string }
  | { readonly code: 'corrupt'; readonly message: string }
  | { readonly code: 'unknown-version'; readonly message: string }

/** The state of an agent that has done nothing yet, on a device running `installed`. */
export function initialAgentState(installed: string): AgentState {
  return {
    phase: 'idle',
    target: null,
    downloadAttempts: 0,
    retryAt: null,
    installAttempts: 0,
    installBoot: null,
    hookExited: false,
    confirmAttempts: 0,
    imagePath: null,
    lastError: null,
    installed,
    givenUp: [],
    reports: [],
    nextReportId: 0,
    finalReport: null,
  }
}

const releaseId = text(AGENT_RELEASE_ID_LENGTH_MAX, undefined, 1)
const version = text(VERSION_LENGTH_MAX, undefined, 1)
// Attempts are stored after being counted, so one over the maximum can be on disk briefly.
const attempts = (max: number) => uint(max + 1)

const targetSchema = struct({
  release: releaseId,
  version,
  manifest: releaseId,
  imageSize: uint(IMAGE_BYTES_MAX, 1),
  imageSha256: bytes(32),
})

const reportSchema = struct(
  {
    id: uint(),
    // `installed`: what a `confirmed` report was called before the confirm step.
    status: oneOf(...REPORT_STATUSES, 'installed'),
    release: releaseId,
    imageSha256: bytes(32),
    time: uint(),
    attempts: attempts(AGENT_REPORT_ATTEMPTS_MAX),
    nextAt: uint(),
  },
  { detail: text(REPORT_DETAIL_LENGTH_MAX), running: version },
)

const stateSchema = struct(
  {
    v: uint(),
    phase: oneOf(...AGENT_PHASES),
    target: nullable(targetSchema),
    downloadAttempts: attempts(AGENT_DOWNLOAD_ATTEMPTS_MAX),
    retryAt: nullable(uint()),
    installAttempts: attempts(AGENT_INSTALL_ATTEMPTS_MAX),
    imagePath: nullable(text(AGENT_IMAGE_PATH_LENGTH_MAX, undefined, 1)),
    lastError: nullable(text(REPORT_DETAIL_LENGTH_MAX)),
    installed: version,
    givenUp: array(releaseId, AGENT_GIVEN_UP_RELEASES_MAX),
    reports: array(reportSchema, AGENT_PENDING_REPORTS_MAX),
    nextReportId: uint(),
    finalReport: nullable(uint()),
  },
  // Added with the confirm step (docs/lifecycle.md); a file written before it has none.
  {
    installBoot: nullable(text(BOOT_ID_LENGTH_MAX)),
    hookExited: bool,
    confirmAttempts: attempts(AGENT_CONFIRM_ATTEMPTS_MAX),
  },
)

/** Encodes a state for the driver to store. */
export function encodeAgentState(state: AgentState): Uint8Array {
  // Field by field: DAG-CBOR refuses `undefined`, and an extra property would make the file
  // unreadable to our own strict decoder.
  const t = state.target
  return encodeCbor({
    v: AGENT_STATE_VERSION,
    phase: state.phase,
    target: t
      ? {
          release: t.release,
          version: t.version,
          manifest: t.manifest,
          imageSize: t.imageSize,
          imageSha256: t.imageSha256,
        }
      : null,
    downloadAttempts: state.downloadAttempts,
    retryAt: state.retryAt,
    installAttempts: state.installAttempts,
    installBoot: state.installBoot,
    hookExited: state.hookExited,
    confirmAttempts: state.confirmAttempts,
    imagePath: state.imagePath,
    lastError: state.lastError,
    installed: state.installed,
    givenUp: [...state.givenUp],
    reports: state.reports.map((r) => ({
      id: r.id,
      status: r.status,
      release: r.release,
      imageSha256: r.imageSha256,
      time: r.time,
      attempts: r.attempts,
      nextAt: r.nextAt,
      ...(r.detail !== undefined ? { detail: r.detail } : {}),
      ...(r.running !== undefined ? { running: r.running } : {}),
    })),
    nextReportId: state.nextReportId,
    finalReport: state.finalReport,
  })
}

function corrupt(message: string): { ok: false; error: AgentStateError } {
  return err({ code: 'corrupt', message })
}

function fromDecodeError(e: DecodeError): { ok: false; error: AgentStateError } {
  return corrupt(e.message)
}

/** Decodes persisted bytes: length first, then the format version, then every field. */
export function decodeAgentState(bytes: Uint8Array): Result<AgentState, AgentStateError> {
  if (bytes.byteLength > AGENT_STATE_BYTES_MAX) {
    return err({
      code: 'too-large',
      message: `${bytes.byteLength} bytes, over the limit of ${AGENT_STATE_BYTES_MAX}`,
    })
  }
  const raw = decodeCbor(bytes, AGENT_STATE_BYTES_MAX)
  if (!raw.ok) return fromDecodeError(raw.error)
  const value = raw.value
  if (typeof value !== 'object' || value === null || !('v' in value)) {
    return corrupt('not an agent state (no format version "v")')
  }
  if (value.v !== AGENT_STATE_VERSION) {
    return err({
      code: 'unknown-version',
      message: `format version ${String(value.v).slice(0, 32)}; this agent reads version ${AGENT_STATE_VERSION}`,
    })
  }
  const decoded = stateSchema(value, '')
  if (!decoded.ok) return fromDecodeError(decoded.error)
  const { v: _v, installBoot, hookExited, confirmAttempts, reports, ...rest } = decoded.value
  const state: AgentState = {
    ...rest,
    installBoot: installBoot ?? null,
    hookExited: hookExited ?? false,
    confirmAttempts: confirmAttempts ?? 0,
    reports: reports.map((r) => ({ ...r, status: r.status === 'installed' ? 'confirmed' : r.status })),
  }
  const problem = inconsistency(state)
  if (problem) return corrupt(problem)
  return ok(state)
}

/** What no state the agent writes can look like; a description, or undefined. */
function inconsistency(state: AgentState): string | undefined {
  if ((state.phase === 'idle') !== (state.target === null)) {
    return `phase ${state.phase} with${state.target ? '' : 'out'} a target`
  }
  if (!parseSemVer(state.installed)) return `installed "${state.installed}" is not a semantic version`
  if (state.target && !parseSemVer(state.target.version)) {
    return `target version "${state.target.version}" is not a semantic version`
  }
  if (state.retryAt !== null && state.phase !== 'downloading' && state.phase !== 'confirming') {
    return `retryAt outside downloading and confirming`
  }
  if ((state.finalReport !== null) !== (state.phase === 'reporting')) {
    return 'a final report exactly in phase reporting'
  }
  const ids = new Set<number>()
  for (const report of state.reports) {
    if (report.id >= state.nextReportId) return `report ${report.id} not below nextReportId`
    if (ids.has(report.id)) return `report ${report.id} twice`
    ids.add(report.id)
  }
  if (state.finalReport !== null && state.finalReport >= state.nextReportId) {
    return `final report ${state.finalReport} not below nextReportId`
  }
  return undefined
}
