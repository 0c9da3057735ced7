import type { Block } from '../ledger/block.js'
import type { Certificate } from '../ledger/certificate.js'
import type { SignedTx } from '../ledger/tx.js'
import type { CertifiedBlock, Msg } from './messages.js'
import type { Replica, ReplicaOutput, SubmitResult } from './replica.js'
import type { SafetyRecord } from './safety.js'

/**
 * The one driver of a `Replica` (DESIGN.md §2): the node, the consensus simulator, the fleet
 * committee, the unit-test harness and the consensus bench all feed inputs and carry out
 * outputs through it, so the order rules of the replica's contract live in one place:
 *
 * - every input is stamped with the host's clock, then the outputs are drained at once;
 * - outputs are handed to the host strictly in the order the replica produced them, so a
 *   `persist` reaches the host before any later `send` or `broadcast`. A host whose persist is
 *   asynchronous (the node's LevelDB) must carry its outputs out in that order too: it queues
 *   them and waits for each one;
 * - after each batch the replica's next deadline goes to the host's one timer.
 *
 * It is pure: what differs between hosts (a libp2p channel or a virtual network, LevelDB or an
 * array, real or virtual time) comes in through `ReplicaHost`. Transports decode messages
 * themselves (with `replica.knownTx`) and answer `sync-request`s from their store.
 */

/** What a host does with a batch output before it is carried out (simulators inject faults). */
export type OutputVerdict = 'drop' | 'crash' | undefined

export interface ReplicaHost {
  /** The host's clock, in epoch milliseconds (virtual time in a simulator). */
  now(): number
  /** Transmit to one validator. */
  send(to: number, msg: Msg): void
  /** Transmit to every other validator. */
  broadcast(msg: Msg): void
  /** Store the safety record durably before any later `send` or `broadcast` leaves. */
  persist(record: SafetyRecord): void
  /** A block is final: store it with its certificate (and announce it). */
  commit(block: Block, cert: Certificate): void
  /** Ask validator `from` for committed blocks from `height` on. */
  requestSync?(from: number, height: number, count: number): void
  /** Validator `from` sent something provably wrong. */
  fault?(from: number, code: string, message: string): void
  /** The replica entered a view (`changing` false) or started moving to one. */
  view?(view: number, changing: boolean, reason: string): void
  /** A stable checkpoint at `height`. */
  checkpoint?(height: number, block: Block, cert: Certificate): void
  /** Arm the host's one timer for `deadline` (replica time), or none when undefined. */
  setTimer?(deadline: number | undefined): void
  /**
   * Fault injection: sees each output before it is carried out. `drop` skips it; `crash`
   * carries it out, then ends the batch and calls `crash`.
   */
  screen?(out: ReplicaOutput): OutputVerdict
  /**
   * Fault injection: read once per batch; a number k carries out only the batch's first k
   * outputs (unscreened), then calls `crash`: a crash in the middle of carrying a batch out.
   */
  takeCrashAfterOutputs?(): number | null
  /** The host crashed while carrying out a batch; the driver is done. */
  crash?(): void
}

export interface ReplicaDriverOptions {
  /**
   * When to run the mempool's O(size) self-check: after every batch (the consensus simulator),
   * after a batch that committed (the fleet, with 10,000 submissions), or never (the node).
   */
  readonly checkMempool?: 'each-batch' | 'after-commit' | 'never'
}

export class ReplicaDriver {
  private stopped = false
  private readonly checkMempool: 'each-batch' | 'after-commit' | 'never'

  /**
   * Call `flush()` once the host is ready: the replica's first outputs (its `status`) wait in
   * it until then, so a host can finish setting up (a committee builds all its replicas first).
   */
  constructor(
    readonly replica: Replica,
    private readonly host: ReplicaHost,
    options: ReplicaDriverOptions = {},
  ) {
    this.checkMempool = options.checkMempool ?? 'never'
  }

  /** A transaction from a client or gossip. */
  submit(tx: SignedTx): SubmitResult {
    const result = this.replica.submit(tx, this.host.now())
    this.flush()
    return result
  }

  /** A decoded message from validator `from` (never a `sync-request`: the host serves those). */
  handleMessage(from: number, msg: Msg): void {
    this.replica.handleMessage(from, msg, this.host.now())
    this.flush()
  }

  /** The blocks a sync peer sent. */
  handleSyncResponse(from: number, blocks: readonly CertifiedBlock[]): void {
    this.replica.handleSyncResponse(from, blocks, this.host.now())
    this.flush()
  }

  /** The host's timer fired (early is harmless). */
  tick(): void {
    this.replica.handleTick(this.host.now())
    this.flush()
  }

  /**
   * From now on outputs stay in the replica: a stopping node carries out nothing more (inputs
   * still reach the replica, so a late submission still gets its verdict).
   */
  stop(): void {
    this.stopped = true
  }

  /** Drains the replica's outputs to the host in order, then arms the host's timer. */
  flush(): void {
    if (this.stopped) return
    const host = this.host
    const outputs = this.replica.poll()
    const cut = host.takeCrashAfterOutputs?.() ?? null
    if (cut !== null) {
      const limit = Math.min(outputs.length, cut)
      for (let i = 0; i < limit; i++) this.carryOut(outputs[i]!)
      host.crash?.()
      return
    }
    let committed = false
    for (const out of outputs) {
      const verdict = host.screen?.(out)
      if (verdict === 'drop') continue
      this.carryOut(out)
      if (out.type === 'commit') committed = true
      if (verdict === 'crash') {
        host.crash?.()
        return
      }
    }
    if (this.checkMempool === 'each-batch' || (committed && this.checkMempool === 'after-commit'))
      this.replica.mempool.checkInvariants()
    host.setTimer?.(this.replica.nextDeadline())
  }

  /** The one switch over `ReplicaOutput`. */
  private carryOut(out: ReplicaOutput): void {
    const host = this.host
    switch (out.type) {
      case 'persist':
        host.persist(out.record)
        return
      case 'send':
        host.send(out.to, out.msg)
        return
      case 'broadcast':
        host.broadcast(out.msg)
        return
      case 'commit':
        host.commit(out.block, out.cert)
        return
      case 'request-sync':
        host.requestSync?.(out.from, out.height, out.count)
        return
      case 'fault':
        host.fault?.(out.from, out.code, out.message)
        return
      case 'view':
        host.view?.(out.view, out.changing, out.reason)
        return
      case 'checkpoint':
        host.checkpoint?.(out.height, out.block, out.cert)
        return
    }
  }
}
