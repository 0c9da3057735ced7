import { assert } from '../codec/assert.js'
import { toHex } from '../codec/bytes.js'
import { MEMPOOL_BYTES_MAX, MEMPOOL_SIGNER_SHARE_PERCENT, MEMPOOL_TXS_MAX } from '../constants.js'
import type { Rejection } from '../ledger/rejection.js'
import { type ApplyContext, applyInPlace } from '../ledger/rules.js'
import type { LedgerState } from '../ledger/state.js'
import type { SignedTx } from '../ledger/tx.js'

/**
 * The transactions a validator holds until they commit: only transactions that pass the
 * rules against the committed state plus everything pending before them; deduplicated;
 * bounded in count and bytes overall and per signer. Blocks take the oldest first with a fair
 * share per signer, so one flooding key cannot starve the rest.
 *
 * One exception keeps a full mempool cheap: a transaction evicted for room leaves its effects
 * in the draft until the next block, so a transaction admitted in between may rely on it. The
 * next block's rebuild drops such a transaction, and no block includes it meanwhile (`take`
 * checks every pick against the committed state).
 */

export interface MempoolLimits {
  readonly txsMax: number
  readonly bytesMax: number
  /** The share of `txsMax` and of `bytesMax` one signer may hold, in percent. */
  readonly signerSharePercent: number
}

export const DEFAULT_MEMPOOL_LIMITS: MempoolLimits = {
  txsMax: MEMPOOL_TXS_MAX,
  bytesMax: MEMPOOL_BYTES_MAX,
  signerSharePercent: MEMPOOL_SIGNER_SHARE_PERCENT,
}

/** Why the mempool refused a transaction that the rules might accept. */
export type MempoolRejection =
  | { readonly code: 'mempool.duplicate'; readonly message: string }
  | { readonly code: 'mempool.full'; readonly message: string }
  | { readonly code: 'mempool.signer-full'; readonly message: string }

export type AdmitResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly rejection: Rejection | MempoolRejection }

interface SignerLoad {
  count: number
  bytes: number
  /** The signer's pending transaction ids, oldest first. */
  readonly ids: string[]
}

interface Entry {
  readonly tx: SignedTx
  readonly signer: string
  readonly arrivedAt: number
  /** When this validator last sent the transaction on towards the primary. */
  relayedAt: number
}

export class Mempool {
  // Map iteration order is insertion order: arrival order, oldest first.
  private readonly entries = new Map<string, Entry>()
  /**
   * The same entries by when each was last sent on (arrival, then each relay moves it to the
   * end), so the next relay is the first: found without a scan. Scanned after every input, a
   * full mempool cost each submission 10,000 steps.
   */
  private readonly relayOrder = new Map<string, Entry>()
  /** The latest relay stamp given; stamps never go back, which keeps `relayOrder` sorted. */
  private relayClock = Number.NEGATIVE_INFINITY
  private readonly perSigner = new Map<string, SignerLoad>()
  /** Transaction id by signature (latin1), to find a pending transaction from its envelope bytes. */
  private readonly bySignature = new Map<string, string>()
  private totalBytes = 0
  /**
   * The signers holding each count of pending transactions (in the order they reached it),
   * and the highest count held: the eviction victim is found without a scan.
   */
  private readonly signersByCount: Set<string>[] = []
  private topSignerCount = 0
  /** Times the draft was rebuilt from the committed state (a full pass over what is pending). */
  private draftBuilds = 0
  /** Committed state plus every pending transaction, in arrival order; null when stale. */
  private draft: LedgerState | null = null
  /** The draft also holds the effects of transactions evicted since it was built. */
  private draftHoldsEvicted = false
  private draftBase: LedgerState | null = null
  /** The committed head the draft was last known to extend. */
  private draftHead: LedgerState['head'] | null = null

  constructor(readonly limits: MempoolLimits = DEFAULT_MEMPOOL_LIMITS) {
    assert(limits.txsMax >= 1, 'a mempool holds at least one transaction')
    assert(limits.signerSharePercent >= 1 && limits.signerSharePercent <= 100, 'a share is a percentage')
  }

  get size(): number {
    return this.entries.size
  }

  get bytes(): number {
    return this.totalBytes
  }

  has(id: string): boolean {
    return this.entries.has(id)
  }

  get(id: string): SignedTx | undefined {
    return this.entries.get(id)?.tx
  }

  /**
   * The pending transaction whose envelope these bytes might be (found by the signature
   * inside them); the caller compares the bytes before trusting it.
   */
  byEnvelope(envelope: Uint8Array): SignedTx | undefined {
    const key = envelopeSignatureKey(envelope)
    const id = key === undefined ? undefined : this.bySignature.get(key)
    return id === undefined ? undefined : this.entries.get(id)?.tx
  }

  /** Arrival time of the oldest pending transaction, or undefined when empty. */
  oldestArrival(): number | undefined {
    for (const e of this.entries.values()) return e.arrivedAt
    return undefined
  }

  private signerTxsMax(): number {
    return Math.max(1, Math.floor((this.limits.txsMax * this.limits.signerSharePercent) / 100))
  }

  private signerBytesMax(): number {
    return Math.max(1, Math.floor((this.limits.bytesMax * this.limits.signerSharePercent) / 100))
  }

  /**
   * Admits a transaction if the rules accept it after everything already pending (its
   * signature is checked here, once) and the limits leave room. When the mempool is full, the
   * newest transaction of the signer holding the most is evicted for a signer holding fewer.
   */
  admit(tx: SignedTx, state: LedgerState, ctx: ApplyContext, now: number): AdmitResult {
    if (this.entries.has(tx.idString)) {
      return {
        ok: false,
        rejection: { code: 'mempool.duplicate', message: `transaction ${tx.idString} is already pending` },
      }
    }
    const signer = toHex(tx.body.signer)
    const mine = this.perSigner.get(signer) ?? { count: 0, bytes: 0, ids: [] }
    const size = tx.bytes.byteLength
    if (mine.count + 1 > this.signerTxsMax() || mine.bytes + size > this.signerBytesMax()) {
      return {
        ok: false,
        rejection: {
          code: 'mempool.signer-full',
          message: `this signer already has ${mine.count} transactions pending, its share of the mempool`,
        },
      }
    }
    const full = this.entries.size + 1 > this.limits.txsMax || this.totalBytes + size > this.limits.bytesMax
    // When full, the rules are asked on a layer over the draft, so a refusal for room leaves
    // the draft as it was. Applied to the draft itself, every refusal threw the draft away and
    // the next transaction rebuilt it from everything pending: with 100,000 devices reporting
    // into a full mempool of 10,000, each report cost 10,000 rule checks (the simulation
    // spent minutes at t=0.3 s).
    let layer = this.layerFor(state, ctx, full)
    let rejection = applyInPlace(layer, tx, ctx)
    if (rejection && this.draftHoldsEvicted) {
      // An evicted transaction's effects (its id, a record it wrote) may be what refused
      // `tx`: ask again on a draft of exactly what is pending.
      this.draft = null
      layer = this.layerFor(state, ctx, full)
      rejection = applyInPlace(layer, tx, ctx)
    }
    if (rejection) return { ok: false, rejection }
    while (this.entries.size + 1 > this.limits.txsMax || this.totalBytes + size > this.limits.bytesMax) {
      const victim = this.evictionVictim(mine.count)
      if (!victim) {
        return {
          ok: false,
          rejection: {
            code: 'mempool.full',
            message: `the mempool is full (${this.entries.size} transactions)`,
          },
        }
      }
      // The victim's effects stay in the draft until the next block rebuilds it. Rebuilt at
      // each eviction, a full mempool of 10,000 cost 10,000 rule checks per admission once
      // devices held two reports each (a 100,000-device simulation: hours).
      this.remove(victim)
      this.draftHoldsEvicted = true
    }
    if (full) layer.mergeIntoParent()
    const entry: Entry = { tx, signer, arrivedAt: now, relayedAt: this.relayStamp(now) }
    this.entries.set(tx.idString, entry)
    this.relayOrder.set(tx.idString, entry)
    this.bySignature.set(signatureKey(tx.signature), tx.idString)
    mine.count++
    mine.bytes += size
    mine.ids.push(tx.idString)
    this.perSigner.set(signer, mine)
    this.countSigner(signer, mine.count - 1, mine.count)
    this.totalBytes += size
    return { ok: true }
  }

  /** The draft, or (when full) a layer over it that a refusal for room can drop. */
  private layerFor(state: LedgerState, ctx: ApplyContext, full: boolean): LedgerState {
    const draft = this.ensureDraft(state, ctx)
    return full ? draft.derive() : draft
  }

  /**
   * The newest transaction of the signer holding the most, if it holds more than `count` + 1
   * (so never the newcomer's own, which holds `count`).
   */
  private evictionVictim(count: number): string | undefined {
    if (this.topSignerCount <= count + 1) return undefined
    const top = this.signersByCount[this.topSignerCount]!.values().next()
    assert(top.done !== true, 'the highest count is held by a signer')
    return this.perSigner.get(top.value)!.ids.at(-1)
  }

  private remove(id: string): void {
    const e = this.entries.get(id)
    if (!e) return
    this.entries.delete(id)
    this.relayOrder.delete(id)
    this.bySignature.delete(signatureKey(e.tx.signature))
    this.totalBytes -= e.tx.bytes.byteLength
    const s = this.perSigner.get(e.signer)
    assert(s !== undefined && s.count >= 1, 'a pending transaction counts for its signer')
    // Blocks take the oldest first, so the id is nearly always at the front.
    const at = s.ids.indexOf(id)
    assert(at >= 0, 'a pending transaction is listed under its signer')
    s.ids.splice(at, 1)
    s.count--
    s.bytes -= e.tx.bytes.byteLength
    if (s.count === 0) this.perSigner.delete(e.signer)
    this.countSigner(e.signer, s.count + 1, s.count)
  }

  /** `signer`'s pending count went from `from` to `to` (0 for none). */
  private countSigner(signer: string, from: number, to: number): void {
    const byCount = this.signersByCount
    if (from > 0) byCount[from]!.delete(signer)
    if (to > 0) {
      let set = byCount[to]
      if (set === undefined) {
        set = new Set()
        byCount[to] = set
      }
      set.add(signer)
    }
    if (to > this.topSignerCount) this.topSignerCount = to
    while (this.topSignerCount > 0 && byCount[this.topSignerCount]!.size === 0) this.topSignerCount--
  }

  /** Times the draft (committed state plus everything pending) was rebuilt; for tests and metrics. */
  get draftRebuilds(): number {
    return this.draftBuilds
  }

  /**
   * The committed state plus every pending transaction. Rebuilt after each commit: pending
   * transactions that no longer pass (committed elsewhere, or made invalid) are dropped.
   * Signatures were checked on admission and are not checked again.
   */
  private ensureDraft(state: LedgerState, ctx: ApplyContext): LedgerState {
    if (this.draft && this.draftBase === state && this.draftHead === state.head) return this.draft
    this.draftBuilds++
    const draft = state.derive()
    for (const [id, e] of [...this.entries]) {
      if (applyInPlace(draft, e.tx, ctx, { verifySignatures: false })) this.remove(id)
    }
    this.draft = draft
    this.draftHoldsEvicted = false
    this.draftBase = state
    this.draftHead = state.head
    return draft
  }

  /**
   * Drops the transactions of a block just committed on `state`. When the block was exactly
   * the oldest pending transactions in arrival order (the common case: every validator hears
   * transactions in about the same order and blocks take the oldest first), the draft still
   * equals the new state plus what remains pending, and is kept; otherwise it is rebuilt on
   * next use, dropping whatever the block made invalid.
   */
  onCommit(txIds: readonly string[], state: LedgerState): void {
    let prefix =
      this.draft !== null && this.draftBase === state && this.draftHead?.height === state.head.height - 1
    if (prefix) {
      let k = 0
      for (const id of this.entries.keys()) {
        if (k >= txIds.length) break
        if (id !== txIds[k]) {
          prefix = false
          break
        }
        k++
      }
      if (k < txIds.length) prefix = false
    }
    for (const id of txIds) this.remove(id)
    // A draft holding evicted effects is rebuilt once per block, not once per eviction.
    if (prefix && !this.draftHoldsEvicted) this.draftHead = state.head
    else this.draft = null
  }

  /** Revalidates everything pending against `state` now (normally done lazily). */
  revalidate(state: LedgerState, ctx: ApplyContext): void {
    this.draft = null
    this.ensureDraft(state, ctx)
  }

  /**
   * Picks the transactions of the next block: oldest first, each signer at most its fair
   * share (the block's room divided by the signers waiting) in a first pass, then oldest first
   * again to fill what the share left. Every pick passes the rules after the picks before it,
   * against a state derived from `state`, which is returned with the picks applied.
   */
  take(
    state: LedgerState,
    ctx: ApplyContext,
    txsMax: number,
    bytesMax: number,
  ): { txs: SignedTx[]; draft: LedgerState } {
    const draft = state.derive()
    const picked: SignedTx[] = []
    const pickedIds = new Set<string>()
    if (this.entries.size === 0 || txsMax === 0) return { txs: picked, draft }
    const share = Math.max(1, Math.ceil(txsMax / this.perSigner.size))
    const taken = new Map<string, number>()
    let bytes = 0
    const tryPick = (e: Entry): boolean => {
      const size = e.tx.bytes.byteLength + TX_FRAMING_BYTES
      if (bytes + size > bytesMax) return false
      if (applyInPlace(draft, e.tx, ctx, { verifySignatures: false })) return false
      picked.push(e.tx)
      pickedIds.add(e.tx.idString)
      bytes += size
      taken.set(e.signer, (taken.get(e.signer) ?? 0) + 1)
      return true
    }
    for (const e of this.entries.values()) {
      if (picked.length >= txsMax) break
      if ((taken.get(e.signer) ?? 0) >= share) continue
      tryPick(e)
    }
    if (picked.length < txsMax && taken.size > 0) {
      for (const e of this.entries.values()) {
        if (picked.length >= txsMax) break
        if (pickedIds.has(e.tx.idString)) continue
        tryPick(e)
      }
    }
    return { txs: picked, draft }
  }

  /**
   * Up to `max` transactions not sent on for `olderThanMs`, longest unsent first, marked as
   * sent now: a backup forwards what the primary may have missed.
   */
  dueForRelay(now: number, olderThanMs: number, max: number): SignedTx[] {
    const due: Entry[] = []
    for (const e of this.relayOrder.values()) {
      if (due.length >= max || now - e.relayedAt < olderThanMs) break
      due.push(e)
    }
    const stamp = this.relayStamp(now)
    for (const e of due) {
      e.relayedAt = stamp
      this.relayOrder.delete(e.tx.idString)
      this.relayOrder.set(e.tx.idString, e)
    }
    return due.map((e) => e.tx)
  }

  /** The earliest time a pending transaction becomes due for relay. */
  nextRelayAt(olderThanMs: number): number | undefined {
    for (const e of this.relayOrder.values()) return e.relayedAt + olderThanMs
    return undefined
  }

  private relayStamp(now: number): number {
    this.relayClock = Math.max(this.relayClock, now)
    return this.relayClock
  }

  /** Every pending transaction, oldest first. */
  *pending(): IterableIterator<SignedTx> {
    for (const e of this.entries.values()) yield e.tx
  }

  /** Checks the bookkeeping (tests and the simulator call it after every step). */
  checkInvariants(): void {
    let bytes = 0
    const counts = new Map<string, number>()
    for (const e of this.entries.values()) {
      bytes += e.tx.bytes.byteLength
      counts.set(e.signer, (counts.get(e.signer) ?? 0) + 1)
    }
    assert(bytes === this.totalBytes, 'the byte count matches the pending transactions')
    assert(this.entries.size <= this.limits.txsMax, 'the mempool is within its count limit')
    assert(this.totalBytes <= this.limits.bytesMax, 'the mempool is within its byte limit')
    for (const [signer, count] of counts) {
      const load = this.perSigner.get(signer)
      assert(load?.count === count, 'per-signer counts match the pending transactions')
      assert(load.ids.length === count, 'per-signer ids match the pending transactions')
      for (const id of load.ids)
        assert(this.entries.get(id)?.signer === signer, 'a listed id is pending, by its signer')
    }
    assert(counts.size === this.perSigner.size, 'no signer is counted without pending transactions')
    let top = 0
    for (const count of counts.values()) top = Math.max(top, count)
    assert(this.topSignerCount === top, 'the highest per-signer count is the one tracked')
    for (let c = 1; c < this.signersByCount.length; c++) {
      let n = 0
      for (const count of counts.values()) if (count === c) n++
      assert((this.signersByCount[c]?.size ?? 0) === n, 'signers are grouped by how many they hold')
      for (const signer of this.signersByCount[c] ?? [])
        assert(counts.get(signer) === c, 'a signer is in its group')
    }
    assert(this.bySignature.size === this.entries.size, 'every pending transaction is indexed by signature')
    assert(this.relayOrder.size === this.entries.size, 'every pending transaction is in the relay order')
    let last = Number.NEGATIVE_INFINITY
    for (const [id, e] of this.relayOrder) {
      assert(this.entries.get(id) === e, 'the relay order holds the pending entries')
      assert(e.relayedAt >= last, 'the relay order is by time last sent')
      last = e.relayedAt
    }
  }
}

/** Room a transaction takes in a block's encoding besides its own bytes (the CBOR framing). */
export const TX_FRAMING_BYTES = 8

/** A canonical envelope starts `{"sig": bytes(64)` (shorter keys sort first in DAG-CBOR). */
const ENVELOPE_PREFIX = [0xa2, 0x63, 0x73, 0x69, 0x67, 0x58, 0x40] as const
const ENVELOPE_SIG_END = ENVELOPE_PREFIX.length + 64

/**
 * The key of the signature inside envelope bytes, as `signatureKey(tx.signature)` gives it;
 * undefined when the bytes cannot be a canonical envelope.
 */
export function envelopeSignatureKey(envelope: Uint8Array): string | undefined {
  if (envelope.byteLength < ENVELOPE_SIG_END || !ENVELOPE_PREFIX.every((b, i) => envelope[i] === b))
    return undefined
  return signatureKey(envelope.subarray(ENVELOPE_PREFIX.length, ENVELOPE_SIG_END))
}

/** A signature as a map key (latin1: one character per byte). */
export function signatureKey(sig: Uint8Array): string {
  return Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength).toString('latin1')
}
