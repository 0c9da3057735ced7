import type { CID } from '../../src/codec/cid.js'
import { type PreparedProof, prepareStatement } from '../../src/consensus/messages.js'
import { SigningDomain } from '../../src/crypto/domains.js'
import { sign } from '../../src/crypto/ed25519.js'
import type { Block } from '../../src/ledger/block.js'

export { signCommit } from '../../src/ledger/certificate.js'

/**
 * Raw signatures on consensus statements, with no safety rule in the way: for byzantine
 * validators in the simulator, attack scripts and tests that build or forge votes. An honest
 * replica signs only through `SafetyRules` (src/consensus/safety-rules.ts), which holds its
 * key and refuses any signature that contradicts an earlier one.
 */
export function signPrepare(
  secretKey: Uint8Array,
  chain: string,
  height: number,
  view: number,
  block: CID,
): Uint8Array {
  return sign(secretKey, SigningDomain.consensus, prepareStatement(chain, height, view, block))
}

/** A prepared proof for `block` in `view`: the prepare votes of `voters`, each with its key. */
export function preparedProof(
  chain: string,
  secretKey: (validator: number) => Uint8Array,
  block: Block,
  view: number,
  voters: readonly number[],
): PreparedProof {
  const h = block.header.height
  return {
    height: h,
    view,
    block: block.hash,
    votes: voters.map((v) => ({ validator: v, sig: signPrepare(secretKey(v), chain, h, view, block.hash) })),
  }
}
