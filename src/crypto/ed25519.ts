import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
  randomBytes,
} from 'node:crypto'
import * as ed from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'
import { bytesEqual, concatBytes, toHex, utf8 } from '../codec/bytes.js'
import { VERIFY_KEY_CACHE_MAX } from '../constants.js'
import type { SigningDomain } from './domains.js'

// noble's synchronous API needs a SHA-512 (FACTS.md).
ed.hashes.sha512 = sha512

export const PUBLIC_KEY_BYTES = 32
export const SECRET_KEY_BYTES = 32
export const SIGNATURE_BYTES = 64

/** An ed25519 key pair. `secretKey` is the 32-byte RFC 8032 seed. */
export interface KeyPair {
  readonly publicKey: Uint8Array
  readonly secretKey: Uint8Array
}

/**
 * Derives the key pair of a 32-byte seed; the simulator and tests use seeded keys. node:crypto
 * derives the public key (~55 µs, against ~380 µs for @noble/ed25519's `getPublicKey`; the
 * tests check both agree), and the private KeyObject made on the way is kept for `sign`.
 */
export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (seed.byteLength !== SECRET_KEY_BYTES)
    throw new RangeError(`an ed25519 seed is ${SECRET_KEY_BYTES} bytes`)
  const secretKey = new Uint8Array(seed)
  const key = privateKeyObject(secretKey)
  const jwk = key.export({ format: 'jwk' })
  return { publicKey: new Uint8Array(Buffer.from(jwk.x!, 'base64url')), secretKey }
}

/** A fresh key pair from the operating system's entropy. */
export function generateKeyPair(): KeyPair {
  return keyPairFromSeed(new Uint8Array(randomBytes(SECRET_KEY_BYTES)))
}

const domainPrefixes = new Map<string, Uint8Array>()
function domainPrefix(domain: SigningDomain): Uint8Array {
  let prefix = domainPrefixes.get(domain)
  if (!prefix) {
    prefix = utf8(`${domain}\u0000`)
    domainPrefixes.set(domain, prefix)
  }
  return prefix
}

/** The exact bytes a signature covers: the domain, a zero byte, then the message. */
export function signingBytes(domain: SigningDomain, message: Uint8Array): Uint8Array {
  return concatBytes(domainPrefix(domain), message)
}

const privateKeyObjects = new WeakMap<Uint8Array, KeyObject>()

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

/**
 * The node:crypto key of a 32-byte seed, made once per seed array. Imported as a JWK: OpenSSL
 * takes the raw seed directly (~50 µs), where a PKCS#8 DER import goes through its decoder
 * search (~1.2 ms on Node 20). Only `d` is read for a private OKP key (`x` is checked to be a
 * string), so the public key is not needed up front; the tests pin signatures against noble's.
 */
function privateKeyObject(secretKey: Uint8Array): KeyObject {
  let key = privateKeyObjects.get(secretKey)
  if (!key) {
    key = createPrivateKey({
      key: { kty: 'OKP', crv: 'Ed25519', d: base64url(secretKey), x: '' },
      format: 'jwk',
    })
    privateKeyObjects.set(secretKey, key)
  }
  return key
}

/** Signs `message` for one purpose only. Deterministic (RFC 8032): same input, same bytes. */
export function sign(secretKey: Uint8Array, domain: SigningDomain, message: Uint8Array): Uint8Array {
  return new Uint8Array(nodeSign(null, signingBytes(domain, message), privateKeyObject(secretKey)))
}

/** Signs with @noble/ed25519 alone: the portable path, and the reference in tests. */
export function signNoble(secretKey: Uint8Array, domain: SigningDomain, message: Uint8Array): Uint8Array {
  return ed.sign(signingBytes(domain, message), secretKey)
}

// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian bytes.
// A signature's S must be below it (RFC 8032 §5.1.7), or one signature has many encodings.
const L_BYTES = Uint8Array.from(
  Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex'),
)

/** True when the 32-byte little-endian number is below L: compared from the top byte, no BigInt. */
function isBelowL(s: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    if (s[i]! < L_BYTES[i]!) return true
    if (s[i]! > L_BYTES[i]!) return false
  }
  return false
}

/**
 * True when a 32-byte point encoding is canonical: y < p = 2^255 - 19, and no sign bit on
 * x = 0 (which happens exactly for y = 1 and y = p - 1).
 */
function isCanonicalPoint(encoded: Uint8Array): boolean {
  const signBit = (encoded[31]! & 0x80) !== 0
  const top = encoded[31]! & 0x7f
  // y ≥ p only when bytes 1..30 are all 0xff, the top byte is 0x7f and byte 0 ≥ 0xed.
  let allOnes = top === 0x7f
  for (let i = 30; i >= 1 && allOnes; i--) allOnes = encoded[i] === 0xff
  if (allOnes && encoded[0]! >= 0xed) return false
  if (!signBit) return true
  // y = p - 1 = 0x7fff…ffec, or y = 1.
  if (allOnes && encoded[0] === 0xec) return false
  if (top !== 0 || encoded[0] !== 1) return true
  for (let i = 1; i <= 30; i++) if (encoded[i] !== 0) return true
  return false
}

/**
 * The canonical encodings of the eight points of small order (the curve's torsion subgroup).
 * With non-canonical encodings refused first, a key is of small order exactly when it is one
 * of these (test/crypto/ed25519.test.ts derives the eight from the curve with @noble/ed25519).
 */
const SMALL_ORDER_KEYS: ReadonlySet<string> = new Set([
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
])

/** The small-order encodings fwmesh refuses, for the test that derives them from the curve. */
export function smallOrderKeysForTests(): string[] {
  return [...SMALL_ORDER_KEYS]
}

/**
 * A public key's verdict is computed once: canonical encoding, not of small order. A key that
 * is not a point on the curve is refused by node:crypto's verify, which decodes it. Cached
 * (bounded) with its node:crypto KeyObject, since the same validator and device keys verify
 * again and again. The small-order check is a set lookup: decoding the point with
 * @noble/ed25519 took ~0.2 ms, and with more device keys than the cache holds (100,000
 * simulated devices reporting) it was the validators' largest cost.
 */
const publicKeyCache = new Map<string, KeyObject | null>()

function checkedPublicKey(publicKey: Uint8Array): KeyObject | null {
  const id = toHex(publicKey)
  const cached = publicKeyCache.get(id)
  if (cached !== undefined) return cached
  let key: KeyObject | null = null
  if (isCanonicalPoint(publicKey) && !SMALL_ORDER_KEYS.has(id)) {
    try {
      // A JWK import takes the raw key directly (~16 µs against ~130 µs for SPKI DER).
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: base64url(publicKey) }, format: 'jwk' })
    } catch {
      key = null
    }
  }
  if (publicKeyCache.size >= VERIFY_KEY_CACHE_MAX) {
    // Evict the oldest entry; Map iterates in insertion order.
    const oldest = publicKeyCache.keys().next()
    if (!oldest.done) publicKeyCache.delete(oldest.value)
  }
  publicKeyCache.set(id, key)
  return key
}

/** Input checks shared by both backends, so they return identical verdicts on bad input. */
function strictChecks(publicKey: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.byteLength !== PUBLIC_KEY_BYTES || signature.byteLength !== SIGNATURE_BYTES) return false
  if (!isBelowL(signature.subarray(32))) return false
  return isCanonicalPoint(signature.subarray(0, 32))
}

export type VerifyBackend = 'node' | 'noble'

/**
 * The one signature check of fwmesh. Strict RFC 8032: wrong lengths, S ≥ L, non-canonical
 * encodings and small-order public keys are refused before any curve arithmetic. node:crypto
 * does the work (~13× faster, FACTS.md); `backend: 'noble'` runs @noble/ed25519 instead.
 */
export function verify(
  publicKey: Uint8Array,
  domain: SigningDomain,
  message: Uint8Array,
  signature: Uint8Array,
  backend: VerifyBackend = 'node',
): boolean {
  if (!strictChecks(publicKey, signature)) return false
  const signed = signingBytes(domain, message)
  // A verdict is stored only after the key passed the checks below, and the lookup compares
  // the key bytes: a hit needs no key object (building one was a tenth of a memo hit's cost).
  const memo = verifyMemo
  if (memo) {
    const known = memo.lookup(publicKey, signed, signature)
    if (known !== undefined) return known
  }
  const key = checkedPublicKey(publicKey)
  if (key === null) return false
  const verdict =
    backend === 'noble'
      ? ed.verify(signature, signed, publicKey, { zip215: false })
      : nodeVerify(null, signed, key, signature)
  memo?.store(publicKey, signed, signature, verdict)
  return verdict
}

/**
 * Verdicts remembered by exact input: the public key, the signed bytes and the signature are
 * compared byte for byte, so a hit returns what verification would return. Only the fleet
 * simulator installs one (`setVerifyMemo`): its thousands of simulated nodes share one process
 * and would otherwise check the same signature once per node (a report is checked by every
 * validator and by the followers). Nodes never install one; `verify` is unchanged without it.
 */
export class VerifyMemo {
  private readonly entries = new Map<string, { key: Uint8Array; signed: Uint8Array; verdict: boolean }>()

  /** @param entriesMax the memo is cleared when it holds this many verdicts (bounded memory) */
  constructor(readonly entriesMax: number) {}

  get size(): number {
    return this.entries.size
  }

  lookup(publicKey: Uint8Array, signed: Uint8Array, signature: Uint8Array): boolean | undefined {
    const e = this.entries.get(latin1(signature))
    if (!e || !bytesEqual(e.key, publicKey) || !bytesEqual(e.signed, signed)) return undefined
    return e.verdict
  }

  store(publicKey: Uint8Array, signed: Uint8Array, signature: Uint8Array, verdict: boolean): void {
    if (this.entries.size >= this.entriesMax) this.entries.clear()
    this.entries.set(latin1(signature), { key: new Uint8Array(publicKey), signed, verdict })
  }
}

let verifyMemo: VerifyMemo | null = null

/** Installs (or, with null, removes) the process-wide verdict memo. For the simulator only. */
export function setVerifyMemo(memo: VerifyMemo | null): void {
  verifyMemo = memo
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

/** Verifies a signature over raw bytes with no domain: only for RFC 8032 test vectors. */
export function verifyRawForVectors(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  backend: VerifyBackend,
): boolean {
  if (!strictChecks(publicKey, signature)) return false
  const key = checkedPublicKey(publicKey)
  if (key === null) return false
  if (backend === 'noble') return ed.verify(signature, message, publicKey, { zip215: false })
  return nodeVerify(null, message, key, signature)
}

/** Internal checks, exported for their property tests only. */
export const strictChecksForTests = { isBelowL, isCanonicalPoint }
