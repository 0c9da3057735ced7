import { assert } from '../codec/assert.js'
import { type CID, cidToString } from '../codec/cid.js'
import { SigningDomain } from '../crypto/domains.js'
import { verify } from '../crypto/ed25519.js'
import { type Certificate, type CommitVote, commitMessage, makeCertificate } from '../ledger/certificate.js'
import type { Commit, PrePrepare, Prepare, PreparedProof } from './messages.js'
import { prepareStatement } from './messages.js'
import {
  type NormalCaseHooks,
  type ReplicaContext,
  type Slot,
  slotKey,
  type Validated,
  type VoteEntry,
} from './replica-context.js'
import { primaryOf } from './view-change.js'

/**
 * The normal case of a replica (DESIGN.md §4): the message log of (height, view) slots,
 * pre-prepare / prepare / commit votes checked and counted, our own votes signed through the
 * safety rules, and the commit of a block once 2f+1 commit votes agree on it. Proposing is
 * in proposals.ts; what happens when a view fails is in view-change-protocol.ts.
 */
export class NormalCase implements NormalCaseHooks {
  private readonly slots = new Map<string, Slot>()

  constructor(private readonly c: ReplicaContext) {}

  get slotCount(): number {
    return this.slots.size
  }

  slot(height: number, view: number): Slot {
    const key = slotKey(height, view)
    let s = this.slots.get(key)
    if (!s) {
      s = {
        height,
        view,
        prePrepare: null,
        prepares: new Map(),
        commits: new Map(),
        myPrepare: null,
        myCommit: null,
        accepted: false,
        equivocation: false,
      }
      this.slots.set(key, s)
    }
    return s
  }

  currentSlot(): Slot | undefined {
    return this.slots.get(slotKey(this.c.head + 1, this.c.view))
  }

  /** Is (height, view) inside the window of messages this replica keeps? */
  private inWindow(height: number, view: number): boolean {
    const c = this.c
    return (
      height > c.head &&
      height <= c.head + 1 + c.limits.heightsAheadMax &&
      view + c.limits.viewsAheadMax >= c.view &&
      view <= c.view + c.limits.viewsAheadMax
    )
  }

  onPrePrepare(from: number, pp: PrePrepare): void {
    const c = this.c
    if (pp.validator !== from) {
      c.fault(from, 'impersonation', `pre-prepare in the name of validator ${pp.validator}`)
      return
    }
    if (pp.validator !== primaryOf(pp.view, c.n)) {
      c.fault(
        from,
        'not-primary',
        `pre-prepare for view ${pp.view} from validator ${pp.validator}, not its primary`,
      )
      return
    }
    if (pp.block.header.height !== pp.height) {
      c.fault(
        from,
        'bad-pre-prepare',
        `pre-prepare at height ${pp.height} carries a block at ${pp.block.header.height}`,
      )
      return
    }
    if (!c.catchUp.screenHeight(from, pp.height)) return
    if (!this.inWindow(pp.height, pp.view) || pp.view < c.view) return
    const s = this.slot(pp.height, pp.view)
    if (s.prePrepare) {
      // One proof of equivocation is enough; later variants are not even checked.
      if (s.prePrepare.block.hash.equals(pp.block.hash) || s.equivocation) return
      if (!this.verifyPrepareSig(pp.validator, pp.height, pp.view, pp.block.hash, pp.sig)) {
        c.fault(from, 'bad-signature', 'pre-prepare signature does not verify')
        return
      }
      // Two signed proposals for one height and view: the primary is provably faulty.
      s.equivocation = true
      c.fault(
        pp.validator,
        'equivocation',
        `the primary of view ${pp.view} proposed two blocks at height ${pp.height}`,
      )
      if (!c.changing && pp.view === c.view) c.views.startViewChange(c.view + 1, 'the primary equivocated')
      return
    }
    if (!this.verifyPrepareSig(pp.validator, pp.height, pp.view, pp.block.hash, pp.sig)) {
      c.fault(from, 'bad-signature', 'pre-prepare signature does not verify')
      return
    }
    const existing = s.prepares.get(pp.validator)
    if (existing && existing.block !== pp.block.hashString) {
      s.equivocation = true
      if (!c.changing && pp.view === c.view) c.views.startViewChange(c.view + 1, 'the primary equivocated')
      return
    }
    s.prePrepare = pp
    s.prepares.set(pp.validator, { block: pp.block.hashString, cid: pp.block.hash, sig: pp.sig })
    this.progressSlot(s)
  }

  private verifyPrepareSig(
    validator: number,
    height: number,
    view: number,
    block: CID,
    sig: Uint8Array,
  ): boolean {
    const key = this.c.genesis.validators[validator]?.publicKey
    if (!key) return false
    return verify(
      key,
      SigningDomain.consensus,
      prepareStatement(this.c.genesis.chainId, height, view, block),
      sig,
    )
  }

  onVote(from: number, vote: Prepare | Commit): void {
    const c = this.c
    if (vote.validator >= c.n) {
      c.fault(from, 'unknown-validator', `vote from unknown validator ${vote.validator}`)
      return
    }
    // A validator sends only its own votes (retransmissions included), so a vote in another's
    // name is refused before its signature costs a verification: a byzantine validator cannot
    // make the others check floods of votes it claims to relay.
    if (vote.validator !== from) {
      c.fault(from, 'impersonation', `${vote.type} vote in the name of validator ${vote.validator}`)
      return
    }
    if (!c.catchUp.screenHeight(from, vote.height)) return
    if (!this.inWindow(vote.height, vote.view)) return
    // Prepares of past views can no longer matter; commits of any kept view can still form
    // a certificate, and a certificate is final whatever the view.
    if (vote.type === 'prepare' && vote.view < c.view) return
    const s = this.slot(vote.height, vote.view)
    const votes = vote.type === 'prepare' ? s.prepares : s.commits
    const blockString = cidToString(vote.block)
    const existing = votes.get(vote.validator)
    // A repeat costs nothing; a second, different vote is checked before anyone is blamed.
    if (existing && (existing.block === blockString || existing.doubleVoted)) return
    const key = c.genesis.validators[vote.validator]!.publicKey
    const good =
      vote.type === 'prepare'
        ? verify(
            key,
            SigningDomain.consensus,
            prepareStatement(c.genesis.chainId, vote.height, vote.view, vote.block),
            vote.sig,
          )
        : verify(
            key,
            SigningDomain.commit,
            commitMessage(c.genesis.chainId, vote.height, vote.view, vote.block),
            vote.sig,
          )
    if (!good) {
      c.fault(from, 'bad-signature', `${vote.type} vote of validator ${vote.validator} does not verify`)
      return
    }
    if (existing) {
      // Two signed votes for two blocks: the validator is provably faulty; its first vote stands.
      existing.doubleVoted = true
      c.fault(
        vote.validator,
        'double-vote',
        `two ${vote.type} votes at height ${vote.height}, view ${vote.view}`,
      )
      return
    }
    votes.set(vote.validator, { block: blockString, cid: vote.block, sig: vote.sig })
    if (vote.type === 'commit') this.checkCommitted(s)
    else this.progressSlot(s)
  }

  /** Drives the slot of the current (height, view): accept the proposal, prepare, commit. */
  progressSlot(s: Slot): void {
    const c = this.c
    if (s.height !== c.head + 1) return
    this.checkCommitted(s)
    if (s.height !== c.head + 1) return
    if (c.changing || s.view !== c.view) return
    const pp = s.prePrepare
    if (!pp) return
    if (!s.accepted) {
      if (s.equivocation) return
      const problem = c.proposals.checkProposal(pp)
      if (problem) {
        c.fault(pp.validator, problem.code, problem.message)
        c.views.startViewChange(c.view + 1, `invalid proposal: ${problem.message}`)
        return
      }
      s.accepted = true
      // The safety rules refuse a vote that would contradict one signed before (after a
      // restart, say): then this replica simply does not vote here.
      const signed = pp.validator !== c.index ? c.rules.signPrepare(s.height, s.view, pp.block) : null
      if (signed?.ok) s.myPrepare = this.castVote('prepare', s, pp, signed.value)
    }
    if (s.myCommit === null) {
      const votes = matching(s.prepares, pp.block.hashString)
      if (votes.length < c.quorum) return
      const proof: PreparedProof = { height: s.height, view: s.view, block: pp.block.hash, votes }
      const signed = c.rules.signCommit(proof, pp.block)
      if (!signed.ok) return
      s.myCommit = this.castVote('commit', s, pp, signed.value)
      this.checkCommitted(s)
    }
  }

  /**
   * Sends our vote for the slot's proposal, signed by the safety rules, and counts it. The
   * record the signature updated is persisted first: it must be durable before the vote is.
   */
  private castVote<T extends 'prepare' | 'commit'>(
    type: T,
    s: Slot,
    pp: PrePrepare,
    sig: Uint8Array,
  ): Extract<Prepare | Commit, { type: T }> {
    const c = this.c
    c.persist()
    const msg = { type, view: s.view, height: s.height, block: pp.block.hash, validator: c.index, sig }
    const votes = type === 'prepare' ? s.prepares : s.commits
    votes.set(c.index, { block: pp.block.hashString, cid: pp.block.hash, sig })
    c.push({ type: 'broadcast', msg: msg as Prepare | Commit })
    c.lastRetransmitAt = c.now
    return msg as Extract<Prepare | Commit, { type: T }>
  }

  /** Commits the slot's block once 2f+1 commit votes for one block are in. */
  private checkCommitted(s: Slot): void {
    const c = this.c
    if (s.height !== c.head + 1) return
    const counts = new Map<string, number>()
    let winner: string | undefined
    for (const v of s.commits.values()) {
      const count = (counts.get(v.block) ?? 0) + 1
      counts.set(v.block, count)
      if (count >= c.quorum) winner = v.block
    }
    if (winner === undefined) return
    let known = c.proposals.validated(winner)
    if (!known) {
      // The block may be known from a pre-prepare we did not act on (another view, or
      // while changing views): the certificate makes it final, so check it and apply it.
      for (const other of this.slots.values()) {
        if (other.height === s.height && other.prePrepare?.block.hashString === winner) {
          if (!c.proposals.validate(other.prePrepare.block)) known = c.proposals.validated(winner)
          break
        }
      }
      if (!known) {
        const carried = c.views.carriedBlock(winner)
        if (carried && !c.proposals.validate(carried)) known = c.proposals.validated(winner)
      }
    }
    const votes: CommitVote[] = matching(s.commits, winner)
    if (!known) {
      // 2f+1 validators committed a block we do not have: fetch it from one of them.
      const from = votes.find((v) => v.validator !== c.index)?.validator
      if (from !== undefined) c.catchUp.noteAhead(from, s.height, true)
      return
    }
    const cert = makeCertificate(s.height, s.view, known.block.hash, votes)
    this.applyCommitted(known, cert)
  }

  applyCommitted(v: Validated, cert: Certificate): void {
    const c = this.c
    const block = v.block
    assert(block.header.height === c.head + 1, 'blocks commit in height order')
    assert(cert.block.equals(block.hash), 'the certificate is for the block')
    v.draft.mergeIntoParent()
    assert(c.state.head.hash === block.hashString, 'the merged state is at the block')
    c.headCert = cert
    c.mempool.onCommit(
      block.txs.map((t) => t.idString),
      c.state,
    )
    c.push({ type: 'commit', block, cert })
    const h = block.header.height
    if (h % c.limits.checkpointIntervalBlocks === 0) {
      c.push({ type: 'checkpoint', height: h, block, cert })
      c.push({ type: 'broadcast', msg: { type: 'status', height: h, view: c.view } })
    }
    // Everything about heights at or below the new head is settled.
    for (const [key, s] of this.slots) if (s.height <= h) this.slots.delete(key)
    c.proposals.onCommitted()
    c.rules.committed(h)
    c.catchUp.onCommitted(h)
    c.lastProgressAt = c.now
    c.viewChangesInARow = 0
    c.workSince = c.hasWork() ? c.now : null
    // Drops carried blocks at or below h; a view change in progress is sent again, since
    // it now understates our head.
    c.views.onCommitted(h)
    // The next height may already have messages waiting.
    for (const s of [...this.slots.values()]) if (s.height === h + 1) this.progressSlot(s)
  }

  pruneViews(): void {
    const { view, limits } = this.c
    for (const [key, s] of this.slots) {
      if (s.view + limits.viewsAheadMax < view || s.view > view + limits.viewsAheadMax) this.slots.delete(key)
    }
  }

  // ---- Retransmission ----

  /** Whether the current slot holds messages of ours to send again. */
  hasSomethingToRetransmit(): boolean {
    const s = this.currentSlot()
    return (
      s !== undefined &&
      (s.myPrepare !== null || s.myCommit !== null || (s.prePrepare !== null && this.c.isPrimary()))
    )
  }

  /** Re-sends our proposal and votes of the current slot. */
  retransmit(): void {
    const s = this.currentSlot()
    if (!s) return
    if (s.prePrepare && s.prePrepare.validator === this.c.index)
      this.c.push({ type: 'broadcast', msg: s.prePrepare })
    if (s.myPrepare) this.c.push({ type: 'broadcast', msg: s.myPrepare })
    if (s.myCommit) this.c.push({ type: 'broadcast', msg: s.myCommit })
  }
}

function matching(votes: Map<number, VoteEntry>, block: string): CommitVote[] {
  const out: CommitVote[] = []
  for (const [validator, v] of votes) if (v.block === block) out.push({ validator, sig: v.sig })
  return out.sort((a, b) => a.validator - b.validator)
}
