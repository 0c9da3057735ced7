import { toHex } from '../../src/codec/bytes.js'
import { SigningDomain } from '../../src/crypto/domains.js'
import { verify } from '../../src/crypto/ed25519.js'
import type { Block } from '../../src/ledger/block.js'
import { type Certificate, commitMessage } from '../../src/ledger/certificate.js'
import { type Genesis, quorumSize } from '../../src/ledger/genesis.js'
import { LedgerState } from '../../src/ledger/state.js'
import type { SignedTx } from '../../src/ledger/tx.js'
import { applyBlock } from '../../src/ledger/verify-block.js'

/**
 * The invariants of a consensus run, checked as events happen:
 * - agreement: no two honest nodes (validators or followers) commit different blocks at one
 *   height;
 * - each node's committed height only moves forward, one block at a time;
 * - every committed transaction was submitted by the client and passes the rules (the
 *   checker keeps its own reference chain and applies each block to it, signatures and all);
 * - every certificate has 2f+1 distinct validators whose votes verify;
 * - the follower accepts every block an honest validator committed.
 * Liveness (every submitted transaction committed everywhere in bounded time once faults
 * heal) is judged at the end of the run from what the checker recorded.
 */
export class Checker {
  readonly violations: string[] = []
  forks = 0
  private readonly quorum: number
  private readonly reference: LedgerState
  /** Block hash by height: the first honest commit. */
  private readonly chain = new Map<number, string>()
  private readonly heads = new Map<number, number>()
  readonly submitted = new Map<string, { tx: SignedTx; at: number }>()
  /** Per transaction, per honest validator address, when it first committed there. */
  readonly commitTimes = new Map<string, Map<number, number>>()
  private readonly verifiedVotes = new Set<string>()
  commits = 0

  constructor(private readonly genesis: Genesis) {
    this.quorum = quorumSize(genesis.validators.length)
    this.reference = new LedgerState(genesis)
  }

  get height(): number {
    return this.reference.head.height
  }

  /** Is the transaction on the reference chain? */
  isCommitted(id: string): boolean {
    return this.reference.txs.has(id)
  }

  violation(message: string): void {
    // Bounded: the first few explain a failure; thousands would only repeat it.
    if (this.violations.length < 50) this.violations.push(message)
  }

  onSubmit(tx: SignedTx, at: number): void {
    if (!this.submitted.has(tx.idString)) this.submitted.set(tx.idString, { tx, at })
  }

  /** The height a node last committed (or restarted at). */
  headOf(address: number): number | undefined {
    return this.heads.get(address)
  }

  /** A node (re)started with its store at `height`. */
  onStart(address: number, height: number): void {
    this.heads.set(address, height)
  }

  /** A commit by an honest validator (`validator` true) or a follower. */
  onCommit(address: number, validator: boolean, block: Block, cert: Certificate, at: number): void {
    this.commits++
    const h = block.header.height
    const last = this.heads.get(address) ?? 0
    if (h !== last + 1) this.violation(`node ${address} committed height ${h} after ${last}`)
    this.heads.set(address, h)
    this.checkCertificate(address, block, cert)
    const known = this.chain.get(h)
    if (known === undefined) {
      if (h !== this.reference.head.height + 1) {
        this.violation(`node ${address} committed height ${h} before anyone committed ${h - 1}`)
      } else {
        this.extendReference(address, block)
      }
    } else if (known !== block.hashString) {
      this.forks++
      this.violation(`fork at height ${h}: node ${address} committed ${block.hashString}, others ${known}`)
    }
    if (validator) {
      for (const tx of block.txs) {
        let times = this.commitTimes.get(tx.idString)
        if (!times) {
          times = new Map()
          this.commitTimes.set(tx.idString, times)
        }
        if (!times.has(address)) times.set(address, at)
      }
    }
  }

  private extendReference(address: number, block: Block): void {
    for (const tx of block.txs) {
      if (!this.submitted.has(tx.idString)) {
        this.violation(`node ${address} committed transaction ${tx.idString} that no client submitted`)
      }
    }
    const next = applyBlock(this.reference, block)
    if (!next.ok) {
      this.violation(
        `block ${block.header.height} committed by node ${address} breaks the rules: ${next.error.message}`,
      )
      return
    }
    next.value.mergeIntoParent()
    this.chain.set(block.header.height, block.hashString)
  }

  private checkCertificate(address: number, block: Block, cert: Certificate): void {
    if (cert.height !== block.header.height || !cert.block.equals(block.hash)) {
      this.violation(`node ${address}: the certificate of height ${block.header.height} is for another block`)
      return
    }
    const seen = new Set<number>()
    const message = commitMessage(this.genesis.chainId, cert.height, cert.view, cert.block)
    for (const vote of cert.votes) {
      const validator = this.genesis.validators[vote.validator]
      if (!validator || seen.has(vote.validator)) {
        this.violation(`node ${address}: certificate of height ${cert.height} has a bad or repeated voter`)
        return
      }
      seen.add(vote.validator)
      const key = `${cert.height}/${cert.view}/${block.hashString}/${vote.validator}/${toHex(vote.sig)}`
      if (this.verifiedVotes.has(key)) continue
      if (!verify(validator.publicKey, SigningDomain.commit, message, vote.sig)) {
        this.violation(
          `node ${address}: certificate of height ${cert.height} has a vote that does not verify`,
        )
        return
      }
      if (this.verifiedVotes.size > 100_000) this.verifiedVotes.clear()
      this.verifiedVotes.add(key)
    }
    if (seen.size < this.quorum) {
      this.violation(
        `node ${address}: certificate of height ${cert.height} has ${seen.size} votes, ${this.quorum} needed`,
      )
    }
  }
}
