import { bytesEqual, toHex } from '../codec/bytes.js'
import { cidToString } from '../codec/cid.js'
import { err, ok, type Result } from '../codec/result.js'
import { type Block, type BlockHeader, makeBlock, txRoot } from './block.js'
import { type Certificate, type CertificateFault, verifyCertificate } from './certificate.js'
import type { Genesis } from './genesis.js'
import type { Rejection } from './rejection.js'
import { type ApplyOptions, applyInPlace } from './rules.js'
import type { Head, LedgerState } from './state.js'
import type { SignedTx } from './tx.js'

/** Why a block is not the next block of this chain. */
export type BlockFault =
  | {
      readonly code: 'wrong-chain' | 'wrong-height' | 'broken-link' | 'time-backwards'
      readonly message: string
    }
  | { readonly code: 'bad-proposer' | 'bad-tx-root' | 'too-large'; readonly message: string }
  /** The header's state root is not the root of the state its transactions lead to. */
  | { readonly code: 'bad-state-root'; readonly message: string }
  | { readonly code: 'bad-certificate'; readonly message: string; readonly fault: CertificateFault }
  | {
      readonly code: 'rejected-tx'
      readonly message: string
      readonly index: number
      readonly rejection: Rejection
    }

/**
 * The checks of a block that need no state: chain, proposer, size limits and the Merkle root
 * over its transactions. What a node can refuse a block for at any height, before it knows
 * the block's parent (gossip validation, blocks held ahead of the head).
 */
export function checkBlockAlone(genesis: Genesis, block: Block): BlockFault | undefined {
  const h = block.header
  if (h.chain !== genesis.chainId) return { code: 'wrong-chain', message: `block of chain "${h.chain}"` }
  if (h.proposer >= genesis.validators.length) {
    return { code: 'bad-proposer', message: `proposer ${h.proposer} is not a validator` }
  }
  if (
    block.txs.length > genesis.params.blockTxsMax ||
    block.bytes.byteLength > genesis.params.blockBytesMax
  ) {
    return { code: 'too-large', message: `block at height ${h.height} is over this chain's limits` }
  }
  if (rootsChecked.has(block)) return undefined
  if (h.txCount !== block.txs.length || !bytesEqual(h.txRoot, txRoot(block.txs))) {
    return { code: 'bad-tx-root', message: `transactions of block ${h.height} do not match its header` }
  }
  rootsChecked.add(block)
  return undefined
}

/**
 * Blocks whose transactions were found to match their header's root: a block is checked where
 * it arrives, by the follower and by the store, and its root (a hash per transaction) is
 * computed once. A `Block` is never changed after it is built or decoded.
 */
const rootsChecked = new WeakSet<Block>()

/**
 * Checks that `block` extends `head`: chain, height, link, time, proposer, size limits and the
 * Merkle root over its transactions. No signatures, no rules: cheap enough for every open.
 */
export function checkBlockStructure(genesis: Genesis, head: Head, block: Block): BlockFault | undefined {
  const h = block.header
  if (h.chain !== genesis.chainId) return { code: 'wrong-chain', message: `block of chain "${h.chain}"` }
  if (h.height !== head.height + 1) {
    return { code: 'wrong-height', message: `block at height ${h.height}, expected ${head.height + 1}` }
  }
  const prev = h.prev === null ? null : cidToString(h.prev)
  if (prev !== head.hash)
    return { code: 'broken-link', message: `block at height ${h.height} does not follow the head` }
  if (h.time < head.time)
    return { code: 'time-backwards', message: `block time ${h.time} is before ${head.time}` }
  return checkBlockAlone(genesis, block)
}

/**
 * Certificates this process has verified, each with the genesis it was verified against. A
 * block's certificate is checked where it arrives (gossip validation, a follower's held
 * blocks, sync) and again on the way to the store; the signatures of one certificate object
 * are verified once, and the later checks find it here (2f+1 ed25519 verifies a block are
 * most of a follower's idle CPU). Keyed by the object: a decoded certificate is never
 * changed, and it is frozen when it enters, so a later change cannot ride on an old verdict.
 * The height and block are compared on every check, as they are cheap.
 */
const verifiedCertificates = new WeakMap<Certificate, Genesis>()

/** How many certificates had their signatures verified, and how many checks found one verified before. */
export const certificateChecks = { verified: 0, reused: 0 }

/** Checks a block's certificate: 2f+1 distinct validators signed this block at this height. */
export function checkBlockCertificate(
  genesis: Genesis,
  block: Block,
  cert: Certificate,
): BlockFault | undefined {
  if (
    verifiedCertificates.get(cert) === genesis &&
    cert.height === block.header.height &&
    cert.block.equals(block.hash)
  ) {
    certificateChecks.reused++
    return undefined
  }
  const fault = verifyCertificate(genesis, cert, block.header.height, block.hash)
  if (!fault) {
    certificateChecks.verified++
    Object.freeze(cert.votes)
    for (const vote of cert.votes) Object.freeze(vote)
    verifiedCertificates.set(Object.freeze(cert), genesis)
    return undefined
  }
  return {
    code: 'bad-certificate',
    message: `certificate of block ${block.header.height}: ${fault.message}`,
    fault,
  }
}

/**
 * Applies every transaction of a block to a state derived from `state`, in order, and checks
 * that the result is the state the header commits. The whole block is refused if any
 * transaction is, or if the roots differ: a committed block is all or nothing.
 */
export function applyBlock(
  state: LedgerState,
  block: Block,
  options: ApplyOptions & {
    /**
     * Check the header's state root (the default). Only a store appending a block that its
     * core already verified, root included, may skip it (`LedgerStore.appendVerified`).
     */
    readonly checkStateRoot?: boolean
  } = {},
): Result<LedgerState, BlockFault> {
  const draft = state.derive()
  const ctx = { height: block.header.height, time: block.header.time }
  for (const [index, tx] of block.txs.entries()) {
    const rejection = applyInPlace(draft, tx, ctx, options)
    if (rejection) {
      return err({
        code: 'rejected-tx',
        message: `transaction ${index} of block ${block.header.height} is invalid: ${rejection.message}`,
        index,
        rejection,
      })
    }
  }
  const fault = options.checkStateRoot === false ? undefined : checkStateRoot(draft, block)
  if (fault) return err(fault)
  draft.head = { height: block.header.height, hash: block.hashString, time: block.header.time }
  return ok(draft)
}

/** Checks that `after` (the state with the block's transactions applied) is what the header commits. */
export function checkStateRoot(after: LedgerState, block: Block): BlockFault | undefined {
  const root = after.stateRoot()
  if (bytesEqual(root, block.header.stateRoot)) return undefined
  return {
    code: 'bad-state-root',
    message: `block ${block.header.height} commits state root ${toHex(block.header.stateRoot).slice(0, 16)}…, its transactions lead to ${toHex(root).slice(0, 16)}…`,
  }
}

/**
 * Builds the block over `txs` on top of `state`, as a proposer does: applies them (each must
 * pass the rules) and commits the resulting state's root in the header. Returns the block
 * and the state after it, ready to merge.
 */
export function buildBlock(
  state: LedgerState,
  fields: Omit<BlockHeader, 'txRoot' | 'txCount' | 'stateRoot'>,
  txs: readonly SignedTx[],
  options: ApplyOptions = {},
): Result<{ block: Block; state: LedgerState }, BlockFault> {
  const draft = state.derive()
  const ctx = { height: fields.height, time: fields.time }
  for (const [index, tx] of txs.entries()) {
    const rejection = applyInPlace(draft, tx, ctx, options)
    if (rejection) {
      return err({
        code: 'rejected-tx',
        message: `transaction ${index} of block ${fields.height} is invalid: ${rejection.message}`,
        index,
        rejection,
      })
    }
  }
  const block = makeBlock({ ...fields, stateRoot: draft.stateRoot() }, txs)
  draft.head = { height: block.header.height, hash: block.hashString, time: block.header.time }
  return ok({ block, state: draft })
}

/**
 * What a follower runs on every block a peer sends: the link to its head, the certificate
 * against the genesis validator set, and every transaction under the rules. Returns the state
 * after the block; trusts nothing the peer said.
 */
export function verifyBlock(
  state: LedgerState,
  block: Block,
  cert: Certificate,
): Result<LedgerState, BlockFault> {
  const structural = checkBlockStructure(state.genesis, state.head, block)
  if (structural) return err(structural)
  const certFault = checkBlockCertificate(state.genesis, block, cert)
  if (certFault) return err(certFault)
  return applyBlock(state, block)
}
