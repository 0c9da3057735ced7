import { toHex } from '../codec/bytes.js'
import { cidToString } from '../codec/cid.js'
import { SigningDomain } from '../crypto/domains.js'
import { verify } from '../crypto/ed25519.js'
import { verifyCertificate } from '../ledger/certificate.js'
import { type Genesis, quorumSize } from '../ledger/genesis.js'
import {
  type NewView,
  newViewStatement,
  type PreparedProof,
  prepareStatement,
  type ViewChange,
  viewChangeStatement,
} from './messages.js'

/**
 * View changes, as pure functions every replica runs for itself: checking a view-change vote
 * (its signature, its sender's membership, the head certificate and the prepared proof
 * inside) and a NEW-VIEW (2f+1 such votes for its view from distinct validators, signed by
 * that view's primary), and recomputing from the votes what the new primary must propose.
 *
 * Why the outcome is safe: a block that committed at height s in view v had 2f+1 prepare
 * votes, so at least f+1 honest replicas prepared it. Any 2f+1 view-change votes include one
 * of them, which reports either a head at or past s or that prepared proof. So the new view
 * starts after the highest certified head, and at that height it must re-propose the block of
 * the highest-view prepared proof; any proof from view v or later names the committed block.
 */

/** The primary of a view: round robin over the genesis validators. */
export function primaryOf(view: number, validatorCount: number): number {
  return view % validatorCount
}

export type ProofFault =
  | { readonly code: 'unknown-validator'; readonly message: string }
  | { readonly code: 'bad-signature'; readonly message: string }
  | { readonly code: 'bad-head'; readonly message: string }
  | { readonly code: 'bad-prepared'; readonly message: string }
  | { readonly code: 'not-primary'; readonly message: string }
  | { readonly code: 'wrong-view'; readonly message: string }
  | { readonly code: 'no-quorum'; readonly message: string }
  | { readonly code: 'duplicate-vote'; readonly message: string }

/**
 * Signatures already checked, by a key naming the signer and the signature. A view change
 * arrives once on its own and again inside the NEW-VIEW; its bytes are checked once. The
 * owner clears it when views move on, so it stays bounded.
 */
export type VerifiedCache = Set<string>

/** Checks 2f+1 distinct validators' prepare votes on (height, view, block). */
export function verifyPrepared(
  genesis: Genesis,
  proof: PreparedProof,
  cache?: VerifiedCache,
): ProofFault | undefined {
  const statement = prepareStatement(genesis.chainId, proof.height, proof.view, proof.block)
  const seen = new Set<number>()
  for (const v of proof.votes) {
    const validator = genesis.validators[v.validator]
    if (!validator)
      return { code: 'bad-prepared', message: `prepare vote from unknown validator ${v.validator}` }
    if (seen.has(v.validator))
      return { code: 'bad-prepared', message: `validator ${v.validator} appears twice in a prepared proof` }
    seen.add(v.validator)
    const key = `p/${v.validator}/${toHex(v.sig)}`
    if (cache?.has(key)) continue
    if (!verify(validator.publicKey, SigningDomain.consensus, statement, v.sig)) {
      return { code: 'bad-prepared', message: `prepare vote of validator ${v.validator} does not verify` }
    }
    cache?.add(key)
  }
  const needed = quorumSize(genesis.validators.length)
  if (seen.size < needed)
    return { code: 'bad-prepared', message: `prepared proof has ${seen.size} votes, ${needed} needed` }
  return undefined
}

/** Checks one view-change vote in full: signature, membership, head certificate, prepared proof. */
export function verifyViewChange(
  genesis: Genesis,
  vc: ViewChange,
  cache?: VerifiedCache,
): ProofFault | undefined {
  const validator = genesis.validators[vc.validator]
  if (!validator)
    return { code: 'unknown-validator', message: `view change from unknown validator ${vc.validator}` }
  const key = `vc/${vc.validator}/${toHex(vc.sig)}`
  if (cache?.has(key)) return undefined
  if (
    !verify(validator.publicKey, SigningDomain.consensus, viewChangeStatement(genesis.chainId, vc), vc.sig)
  ) {
    return { code: 'bad-signature', message: `view change of validator ${vc.validator} does not verify` }
  }
  const headHeight = vc.head?.height ?? 0
  if (vc.head) {
    const fault = verifyCertificate(genesis, vc.head.cert, vc.head.height, vc.head.block)
    if (fault) return { code: 'bad-head', message: `head certificate: ${fault.message}` }
  }
  if (vc.prepared) {
    if (vc.prepared.height !== headHeight + 1) {
      return {
        code: 'bad-prepared',
        message: `prepared proof at height ${vc.prepared.height}, head is at ${headHeight}`,
      }
    }
    if (vc.prepared.view >= vc.view) {
      return { code: 'bad-prepared', message: `prepared in view ${vc.prepared.view}, not before ${vc.view}` }
    }
    const fault = verifyPrepared(genesis, vc.prepared, cache)
    if (fault) return fault
  }
  if (vc.preparedBlock && (!vc.prepared || !vc.preparedBlock.hash.equals(vc.prepared.block))) {
    return { code: 'bad-prepared', message: 'the attached block is not the prepared block' }
  }
  cache?.add(key)
  return undefined
}

/** What a new view must do, recomputed by every replica from the NEW-VIEW's votes. */
export interface NewViewDecision {
  readonly view: number
  /** The first height of the new view: one after the highest certified head reported. */
  readonly height: number
  /** The block the primary must propose at `height`, as a CID string; null leaves it free. */
  readonly block: string | null
  /** A validator whose vote reported the highest head (a peer to sync from). */
  readonly headFrom: number
}

/** Recomputes the outcome of a set of view changes, all for one view (already verified). */
export function decideNewView(view: number, viewChanges: readonly ViewChange[]): NewViewDecision {
  let maxHead = 0
  let headFrom = viewChanges[0]?.validator ?? 0
  for (const vc of viewChanges) {
    const h = vc.head?.height ?? 0
    if (h > maxHead || (h === maxHead && vc.validator < headFrom)) {
      maxHead = h
      headFrom = vc.validator
    }
  }
  const height = maxHead + 1
  let best: PreparedProof | null = null
  let bestFrom = Number.MAX_SAFE_INTEGER
  for (const vc of viewChanges) {
    const p = vc.prepared
    if (!p || p.height !== height) continue
    // Highest view wins; within one view two proofs can only disagree with more than f
    // faulty validators, so the tie-break (lowest validator) is only for determinism.
    if (!best || p.view > best.view || (p.view === best.view && vc.validator < bestFrom)) {
      best = p
      bestFrom = vc.validator
    }
  }
  return { view, height, block: best ? cidToString(best.block) : null, headFrom }
}

/**
 * Checks a NEW-VIEW: sent by the primary of its view, signed, with 2f+1 valid view changes
 * for that view from distinct validators. Returns the recomputed decision or the fault.
 */
export function verifyNewView(
  genesis: Genesis,
  nv: NewView,
  cache?: VerifiedCache,
): { ok: true; decision: NewViewDecision } | { ok: false; fault: ProofFault } {
  const n = genesis.validators.length
  if (nv.validator !== primaryOf(nv.view, n)) {
    return {
      ok: false,
      fault: {
        code: 'not-primary',
        message: `validator ${nv.validator} is not the primary of view ${nv.view}`,
      },
    }
  }
  const primary = genesis.validators[nv.validator]
  if (!primary) return { ok: false, fault: { code: 'unknown-validator', message: 'unknown primary' } }
  if (!verify(primary.publicKey, SigningDomain.consensus, newViewStatement(genesis.chainId, nv), nv.sig)) {
    return {
      ok: false,
      fault: { code: 'bad-signature', message: `NEW-VIEW of view ${nv.view} does not verify` },
    }
  }
  const seen = new Set<number>()
  for (const vc of nv.viewChanges) {
    if (vc.view !== nv.view) {
      return {
        ok: false,
        fault: { code: 'wrong-view', message: `a view change for view ${vc.view} in NEW-VIEW ${nv.view}` },
      }
    }
    if (seen.has(vc.validator)) {
      return {
        ok: false,
        fault: { code: 'duplicate-vote', message: `validator ${vc.validator} appears twice` },
      }
    }
    seen.add(vc.validator)
    const fault = verifyViewChange(genesis, vc, cache)
    if (fault) return { ok: false, fault }
  }
  const needed = quorumSize(n)
  if (seen.size < needed) {
    return { ok: false, fault: { code: 'no-quorum', message: `${seen.size} view changes, ${needed} needed` } }
  }
  return { ok: true, decision: decideNewView(nv.view, nv.viewChanges) }
}
