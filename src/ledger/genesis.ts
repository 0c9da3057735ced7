import { fromHex, toHex, utf8 } from '../codec/bytes.js'
import { encodeCbor } from '../codec/cbor.js'
import { type CID, cidOf } from '../codec/cid.js'
import { err, ok, type Result } from '../codec/result.js'
import {
  ADMINS_MAX,
  BLOCK_BYTES_MAX,
  BLOCK_TXS_MAX,
  DEFAULT_BLOCK_INTERVAL_MS,
  DEFAULT_EMPTY_BLOCK_INTERVAL_MS,
  GENESIS_BYTES_MAX,
  IMAGE_BYTES_MAX,
  NAME_LENGTH_MAX,
  TX_BYTES_MAX,
  VALIDATORS_MAX,
} from '../constants.js'
import { publicKeyFromDid } from '../crypto/did.js'
import { PUBLIC_KEY_BYTES } from '../crypto/ed25519.js'

/** A member of the validator committee, by position: certificates name validators by index. */
export interface Validator {
  readonly name: string
  readonly publicKey: Uint8Array
}

export interface ChainParams {
  /** How often the primary proposes a block when transactions are waiting. */
  readonly blockIntervalMs: number
  /** How often an empty block is committed when nothing happens, so followers see a live chain. */
  readonly emptyBlockIntervalMs: number
  readonly blockTxsMax: number
  readonly blockBytesMax: number
  readonly txBytesMax: number
  readonly imageBytesMax: number
}

/** The trust anchor every node is configured with. */
export interface Genesis {
  readonly chainId: string
  /** Milliseconds since the epoch; the time of height 0. */
  readonly time: number
  readonly validators: readonly Validator[]
  readonly admins: readonly Uint8Array[]
  /** Approvals a release needs before devices may install it. */
  readonly approvalThreshold: number
  readonly params: ChainParams
}

export const DEFAULT_CHAIN_PARAMS: ChainParams = {
  blockIntervalMs: DEFAULT_BLOCK_INTERVAL_MS,
  emptyBlockIntervalMs: DEFAULT_EMPTY_BLOCK_INTERVAL_MS,
  blockTxsMax: BLOCK_TXS_MAX,
  blockBytesMax: BLOCK_BYTES_MAX,
  txBytesMax: TX_BYTES_MAX,
  imageBytesMax: IMAGE_BYTES_MAX,
}

/** f, the number of faulty validators the committee tolerates: n = 3f + 1. */
export function faultTolerance(validatorCount: number): number {
  return Math.floor((validatorCount - 1) / 3)
}

/** 2f + 1 for n = 3f + 1; in general the smallest quorum whose pairs share an honest member. */
export function quorumSize(validatorCount: number): number {
  return validatorCount - faultTolerance(validatorCount)
}

/** The genesis id: CID of its canonical encoding. Nodes with different genesis never talk. */
export function genesisId(genesis: Genesis): CID {
  return cidOf(genesisToRecord(genesis))
}

function genesisToRecord(genesis: Genesis) {
  return {
    chainId: genesis.chainId,
    time: genesis.time,
    validators: genesis.validators.map((v) => ({ name: v.name, publicKey: v.publicKey })),
    admins: [...genesis.admins],
    approvalThreshold: genesis.approvalThreshold,
    params: { ...genesis.params },
  }
}

/** Canonical bytes of the genesis record, for hashing and for signing domains. */
export function encodeGenesis(genesis: Genesis): Uint8Array {
  return encodeCbor(genesisToRecord(genesis))
}

/** The JSON form written to `genesis.json`: keys as did:key or hex, readable by people. */
export function genesisToJson(genesis: Genesis): string {
  return `${JSON.stringify(
    {
      chainId: genesis.chainId,
      time: genesis.time,
      validators: genesis.validators.map((v) => ({ name: v.name, publicKey: toHex(v.publicKey) })),
      admins: genesis.admins.map((a) => toHex(a)),
      approvalThreshold: genesis.approvalThreshold,
      params: genesis.params,
    },
    null,
    2,
  )}\n`
}

export interface GenesisError {
  readonly code: 'malformed' | 'invalid'
  readonly message: string
}

const CHAIN_ID = /^[a-z0-9][a-z0-9-]{0,62}$/

function parseKey(value: unknown, where: string): Result<Uint8Array, GenesisError> {
  if (typeof value !== 'string')
    return err({ code: 'invalid', message: `${where} must be a hex key or did:key` })
  const key = value.startsWith('did:key:') ? publicKeyFromDid(value) : fromHex(value)
  if (!key || key.byteLength !== PUBLIC_KEY_BYTES) {
    return err({ code: 'invalid', message: `${where} is not a 32-byte ed25519 key (hex) or a did:key` })
  }
  return ok(key)
}

function positiveInt(value: unknown, where: string, max: number): Result<number, GenesisError> {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    return err({ code: 'invalid', message: `${where} must be a whole number from 1 to ${max}` })
  }
  return ok(value)
}

/**
 * Parses and validates a genesis file. Every fault gets a sentence naming the field, since
 * an operator writes this file by hand or with `fwmesh genesis init`.
 */
export function parseGenesis(text: string): Result<Genesis, GenesisError> {
  if (utf8(text).byteLength > GENESIS_BYTES_MAX) {
    return err({ code: 'malformed', message: `genesis is larger than ${GENESIS_BYTES_MAX} bytes` })
  }
  let doc: Record<string, unknown>
  try {
    const parsed: unknown = JSON.parse(text)
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object')
    doc = parsed as Record<string, unknown>
  } catch {
    return err({ code: 'malformed', message: 'genesis is not a JSON object' })
  }
  const { chainId, time, validators, admins, approvalThreshold, params } = doc
  if (typeof chainId !== 'string' || !CHAIN_ID.test(chainId)) {
    return err({ code: 'invalid', message: 'chainId must be 1-63 lower-case letters, digits or dashes' })
  }
  if (typeof time !== 'number' || !Number.isSafeInteger(time) || time < 0) {
    return err({ code: 'invalid', message: 'time must be milliseconds since the epoch' })
  }
  if (!Array.isArray(validators) || validators.length < 1 || validators.length > VALIDATORS_MAX) {
    return err({ code: 'invalid', message: `validators must list 1 to ${VALIDATORS_MAX} validators` })
  }
  const parsedValidators: Validator[] = []
  const seen = new Set<string>()
  for (const [i, v] of validators.entries()) {
    const where = `validators[${i}]`
    if (typeof v !== 'object' || v === null)
      return err({ code: 'invalid', message: `${where} must be an object` })
    const { name, publicKey } = v as Record<string, unknown>
    if (typeof name !== 'string' || name.length < 1 || name.length > NAME_LENGTH_MAX) {
      return err({ code: 'invalid', message: `${where}.name must be 1-${NAME_LENGTH_MAX} characters` })
    }
    const key = parseKey(publicKey, `${where}.publicKey`)
    if (!key.ok) return key
    if (seen.has(toHex(key.value)))
      return err({ code: 'invalid', message: `${where}.publicKey appears twice` })
    seen.add(toHex(key.value))
    parsedValidators.push({ name, publicKey: key.value })
  }
  if (!Array.isArray(admins) || admins.length < 1 || admins.length > ADMINS_MAX) {
    return err({ code: 'invalid', message: `admins must list 1 to ${ADMINS_MAX} keys` })
  }
  const parsedAdmins: Uint8Array[] = []
  for (const [i, a] of admins.entries()) {
    const key = parseKey(a, `admins[${i}]`)
    if (!key.ok) return key
    parsedAdmins.push(key.value)
  }
  const threshold = positiveInt(approvalThreshold, 'approvalThreshold', 64)
  if (!threshold.ok) return threshold
  const p = (params ?? {}) as Record<string, unknown>
  if (typeof p !== 'object' || Array.isArray(p))
    return err({ code: 'invalid', message: 'params must be an object' })
  const merged: Record<string, number> = { ...DEFAULT_CHAIN_PARAMS }
  const bounds: Record<keyof ChainParams, number> = {
    blockIntervalMs: 3_600_000,
    emptyBlockIntervalMs: 86_400_000,
    blockTxsMax: BLOCK_TXS_MAX,
    blockBytesMax: BLOCK_BYTES_MAX,
    txBytesMax: TX_BYTES_MAX,
    imageBytesMax: IMAGE_BYTES_MAX,
  }
  for (const key of Object.keys(p)) {
    if (!(key in bounds)) return err({ code: 'invalid', message: `params.${key} is not a known parameter` })
    const value = positiveInt(p[key], `params.${key}`, bounds[key as keyof ChainParams])
    if (!value.ok) return value
    merged[key] = value.value
  }
  return ok({
    chainId,
    time,
    validators: parsedValidators,
    admins: parsedAdmins,
    approvalThreshold: threshold.value,
    params: merged as unknown as ChainParams,
  })
}
