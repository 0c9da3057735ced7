import { type DecodeError, decodeCbor, encodeCbor } from '../codec/cbor.js'
import type { CID } from '../codec/cid.js'
import { ok, type Result } from '../codec/result.js'
import { array, bytes, cid, type Infer, struct, uint } from '../codec/schema.js'
import { VALIDATORS_MAX } from '../constants.js'
import { SigningDomain } from '../crypto/domains.js'
import { SIGNATURE_BYTES, sign, verify } from '../crypto/ed25519.js'
import { type Genesis, quorumSize } from './genesis.js'

/**
 * A commit certificate: 2f+1 distinct validators' signatures over (chain, height, view, block
 * hash). The view is signed too: PBFT's safety argument holds for a quorum of commits in one
 * view, so votes from different views must never be combined into one certificate.
 */
export const commitVote = struct({ validator: uint(VALIDATORS_MAX - 1), sig: bytes(SIGNATURE_BYTES) })
export const certificate = struct({
  height: uint(),
  view: uint(),
  block: cid,
  votes: array(commitVote, VALIDATORS_MAX, 1),
})
export type CommitVote = Infer<typeof commitVote>
export type Certificate = Infer<typeof certificate>

/** The bytes a validator signs to vote for committing `block` at `height` in `view`. */
export function commitMessage(chain: string, height: number, view: number, block: CID): Uint8Array {
  return encodeCbor({ chain, height, view, block })
}

export function signCommit(
  secretKey: Uint8Array,
  chain: string,
  height: number,
  view: number,
  block: CID,
): Uint8Array {
  return sign(secretKey, SigningDomain.commit, commitMessage(chain, height, view, block))
}

/** Builds a certificate from votes, sorted by validator index. */
export function makeCertificate(
  height: number,
  view: number,
  block: CID,
  votes: readonly CommitVote[],
): Certificate {
  return { height, view, block, votes: [...votes].sort((a, b) => a.validator - b.validator) }
}

export function encodeCertificate(cert: Certificate): Uint8Array {
  return encodeCbor(cert)
}

/** Certificates are at most one vote per validator: 64 × ~70 bytes plus framing. */
const CERTIFICATE_BYTES_MAX = 8 * 1024

export function decodeCertificate(input: Uint8Array): Result<Certificate, DecodeError> {
  const raw = decodeCbor(input, CERTIFICATE_BYTES_MAX, { canonical: true })
  if (!raw.ok) return raw
  const c = certificate(raw.value, '')
  return c.ok ? ok(c.value) : c
}

export type CertificateFault =
  | { readonly code: 'wrong-height'; readonly message: string }
  | { readonly code: 'wrong-block'; readonly message: string }
  | { readonly code: 'unknown-validator'; readonly message: string }
  | { readonly code: 'duplicate-vote'; readonly message: string }
  | { readonly code: 'bad-signature'; readonly message: string }
  | { readonly code: 'no-quorum'; readonly message: string }

/**
 * Checks a certificate against the genesis validator set: O(n) signature checks, no
 * consensus needed. Returns undefined when it proves the block committed.
 */
export function verifyCertificate(
  genesis: Genesis,
  cert: Certificate,
  height: number,
  block: CID,
): CertificateFault | undefined {
  if (cert.height !== height) {
    return {
      code: 'wrong-height',
      message: `certificate is for height ${cert.height}, block is at ${height}`,
    }
  }
  if (!cert.block.equals(block)) return { code: 'wrong-block', message: 'certificate is for another block' }
  const seen = new Set<number>()
  const message = commitMessage(genesis.chainId, cert.height, cert.view, cert.block)
  for (const vote of cert.votes) {
    const validator = genesis.validators[vote.validator]
    if (!validator)
      return { code: 'unknown-validator', message: `vote from unknown validator ${vote.validator}` }
    if (seen.has(vote.validator))
      return { code: 'duplicate-vote', message: `validator ${vote.validator} voted twice` }
    seen.add(vote.validator)
    if (!verify(validator.publicKey, SigningDomain.commit, message, vote.sig)) {
      return { code: 'bad-signature', message: `validator ${vote.validator}'s vote does not verify` }
    }
  }
  const needed = quorumSize(genesis.validators.length)
  if (seen.size < needed) {
    return { code: 'no-quorum', message: `${seen.size} votes, ${needed} needed` }
  }
  return undefined
}

/** Signs a certificate with the given validators' keys (tests, simulator, benchmarks). */
export function certify(
  genesis: Genesis,
  secretKeys: ReadonlyMap<number, Uint8Array>,
  height: number,
  view: number,
  block: CID,
): Certificate {
  const votes: CommitVote[] = []
  for (const [validator, secretKey] of secretKeys) {
    votes.push({ validator, sig: signCommit(secretKey, genesis.chainId, height, view, block) })
  }
  return makeCertificate(height, view, block, votes)
}
