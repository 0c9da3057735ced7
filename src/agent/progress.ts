/**
 * A device's progress on a release, as it tells the mesh (gossipsub topic `fwmesh/<chain>/progress`):
 * what only the device knows (downloading and how far, verifying, installing, and how it ended),
 * signed with its key under its own signing domain, so no node can speak for another device.
 * Pure: the codec, and the table of the newest message per (release, device) every node keeps.
 *
 * Progress is a hint for people (`fwmesh rollout status`, `/metrics`), never a fact the ledger
 * acts on: an install counts when its report commits. The table keeps registered devices only
 * (the caller checks the key against the ledger) and is bounded (PROGRESS_ENTRIES_MAX).
 */
import { toHex } from '../codec/bytes.js'
import { type DecodeError, decodeCbor, encodeCbor } from '../codec/cbor.js'
import { type CID, cidToString } from '../codec/cid.js'
import { err, ok, type Result } from '../codec/result.js'
import { bytes, cid, oneOf, struct, text, uint } from '../codec/schema.js'
import {
  PROGRESS_AGE_MS_MAX,
  PROGRESS_ENTRIES_MAX,
  PROGRESS_FUTURE_MS_MAX,
  PROGRESS_MESSAGE_BYTES_MAX,
  PROGRESS_REASON_CHARS_MAX,
} from '../constants.js'
import { SigningDomain } from '../crypto/domains.js'
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, sign, verify } from '../crypto/ed25519.js'

/** What a device says of its work on a release, in the order of the lifecycle (docs/lifecycle.md). */
export const PROGRESS_STATES = [
  'downloading',
  'verifying',
  'installing',
  'pending-reboot',
  'confirmed',
  'rolled-back',
  'failed',
] as const
export type ProgressState = (typeof PROGRESS_STATES)[number]

/** Chain ids are short names (genesis); this bounds what a message may claim. */
const CHAIN_CHARS_MAX = 128

const progressBody = struct(
  {
    chain: text(CHAIN_CHARS_MAX, undefined, 1),
    release: cid,
    device: bytes(PUBLIC_KEY_BYTES),
    state: oneOf(...PROGRESS_STATES),
    time: uint(),
  },
  { percent: uint(100), reason: text(PROGRESS_REASON_CHARS_MAX) },
)

const progressEnvelope = struct({ body: progressBody, signature: bytes(SIGNATURE_BYTES) })

/** What a device says of itself. */
export interface ProgressBody {
  readonly chain: string
  readonly release: CID
  readonly device: Uint8Array
  readonly state: ProgressState
  /** Milliseconds since the epoch, by the device's clock. */
  readonly time: number
  /** For `downloading`: how much of the image it holds, 0-100. */
  readonly percent?: number
  /** For `failed` and `rolled-back`: why, at most PROGRESS_REASON_CHARS_MAX characters. */
  readonly reason?: string
}

/** A checked progress message, with its release id as a string. */
export interface Progress extends ProgressBody {
  readonly releaseId: string
}

export type ProgressErrorCode =
  | 'too-large'
  | 'malformed'
  | 'wrong-chain'
  | 'bad-signature'
  | 'unregistered'
  | 'future'
  | 'too-old'

/** Why a progress message was refused; every one counts against the neighbour that sent it. */
export interface ProgressError {
  readonly code: ProgressErrorCode
  readonly message: string
}

function refuse(code: ProgressErrorCode, message: string): { ok: false; error: ProgressError } {
  return err({ code, message })
}

/** A device's progress message, signed and encoded (canonical DAG-CBOR). */
export function encodeProgress(body: ProgressBody, secretKey: Uint8Array): Uint8Array {
  const reason = body.reason === undefined ? undefined : body.reason.slice(0, PROGRESS_REASON_CHARS_MAX)
  const plain = {
    chain: body.chain,
    release: body.release,
    device: body.device,
    state: body.state,
    time: body.time,
    ...(body.percent === undefined ? {} : { percent: Math.max(0, Math.min(100, Math.floor(body.percent))) }),
    ...(reason === undefined ? {} : { reason }),
  }
  const signature = sign(secretKey, SigningDomain.progress, encodeCbor(plain))
  return encodeCbor({ body: plain, signature })
}

/**
 * Decodes and checks a progress message: its size, its shape, its chain and its signature by
 * the device it names. Whether that device is registered, and the time, the caller checks with
 * `checkProgress` (they need the ledger and a clock).
 */
export function decodeProgress(data: Uint8Array, chain: string): Result<Progress, ProgressError> {
  if (data.byteLength > PROGRESS_MESSAGE_BYTES_MAX)
    return refuse('too-large', `${data.byteLength} bytes, over the limit of ${PROGRESS_MESSAGE_BYTES_MAX}`)
  const value = decodeCbor(data, PROGRESS_MESSAGE_BYTES_MAX, { canonical: true })
  if (!value.ok) return refuse('malformed', describe(value.error))
  const envelope = progressEnvelope(value.value, '')
  if (!envelope.ok) return refuse('malformed', describe(envelope.error))
  const { body, signature } = envelope.value
  if (body.chain !== chain)
    return refuse('wrong-chain', `the message is for chain "${body.chain.slice(0, 64)}", not "${chain}"`)
  // The signed bytes are the body's canonical encoding, which the canonical check above makes
  // equal to what the device encoded.
  if (!verify(body.device, SigningDomain.progress, encodeCbor(body), signature))
    return refuse('bad-signature', 'the signature is not the named device’s')
  return ok({ ...body, releaseId: cidToString(body.release) })
}

function describe(error: DecodeError): string {
  return `${error.path ? `${error.path}: ` : ''}${error.message}`
}

/** The checks that need the ledger and a clock: a registered device, a time near `now`. */
export function checkProgress(
  progress: Progress,
  isRegistered: (device: Uint8Array) => boolean,
  now: number,
): ProgressError | undefined {
  if (!isRegistered(progress.device))
    return { code: 'unregistered', message: 'the device is not registered on the ledger' }
  if (progress.time > now + PROGRESS_FUTURE_MS_MAX)
    return { code: 'future', message: `dated ${progress.time - now} ms ahead of this node's clock` }
  if (progress.time < now - PROGRESS_AGE_MS_MAX)
    return { code: 'too-old', message: `dated ${now - progress.time} ms ago` }
  return undefined
}

/** What the table keeps of a device's newest message about a release. */
export interface ProgressEntry {
  readonly release: string
  /** The device's public key, hex. */
  readonly device: string
  readonly state: ProgressState
  readonly time: number
  readonly percent?: number
  readonly reason?: string
}

/** `stored`: it is the device's newest; `stale`: an equal or newer one is held (a duplicate). */
export type ProgressOffer = 'stored' | 'stale'

/**
 * The newest progress per (release, device), at most `limit` entries. A full table drops the
 * entry updated longest ago (Map order: an update moves its entry to the end).
 */
export class ProgressTable {
  private readonly entries = new Map<string, ProgressEntry>()

  constructor(private readonly limit: number = PROGRESS_ENTRIES_MAX) {}

  /** Takes a checked message (`decodeProgress`, then `checkProgress`). */
  offer(progress: Progress): ProgressOffer {
    const device = toHex(progress.device)
    const key = `${progress.releaseId}/${device}`
    const held = this.entries.get(key)
    if (held && held.time >= progress.time) return 'stale'
    const entry: ProgressEntry = {
      release: progress.releaseId,
      device,
      state: progress.state,
      time: progress.time,
      ...(progress.percent === undefined ? {} : { percent: progress.percent }),
      ...(progress.reason === undefined ? {} : { reason: progress.reason }),
    }
    this.entries.delete(key)
    this.entries.set(key, entry)
    while (this.entries.size > this.limit) {
      const oldest = this.entries.keys().next().value as string
      this.entries.delete(oldest)
    }
    return 'stored'
  }

  /** The newest progress of a device (public key, hex) on a release. */
  get(release: string, device: string): ProgressEntry | undefined {
    return this.entries.get(`${release}/${device}`)
  }

  get size(): number {
    return this.entries.size
  }
}
