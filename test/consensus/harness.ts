import { decode, encode, type Msg } from '../../src/consensus/messages.js'
import { Replica, type ReplicaOptions, type ReplicaOutput } from '../../src/consensus/replica.js'
import type { SafetyRecord } from '../../src/consensus/safety.js'
import type { Block } from '../../src/ledger/block.js'
import type { Certificate } from '../../src/ledger/certificate.js'
import { type DevChain, makeDevChain } from '../../src/ledger/dev-chain.js'
import { LedgerState } from '../../src/ledger/state.js'
import { applyBlock } from '../../src/ledger/verify-block.js'

/**
 * A tiny synchronous driver for unit tests of the replica: messages go through the real
 * codec and are delivered in order, with no loss, until the queue is empty; time moves only
 * when a test says so. Every output is recorded per replica.
 */
export class Harness {
  readonly replicas: (Replica | null)[]
  readonly outputs: ReplicaOutput[][]
  readonly commits: { block: Block; cert: Certificate }[][]
  readonly stored: (SafetyRecord | undefined)[]
  readonly queue: { from: number; to: number; bytes: Uint8Array }[] = []
  /** Replicas whose outgoing messages are dropped (crashed or isolated in a test). */
  readonly muted = new Set<number>()
  /** Replicas that receive nothing (cut off in a test). */
  readonly deaf = new Set<number>()
  /** Message types dropped when a given replica sends them (a silent primary drops proposals). */
  readonly dropTypes = new Map<number, Set<string>>()
  /** When each recorded output was produced, parallel to `outputs`. */
  readonly times: number[][]
  now: number

  constructor(
    readonly chain: DevChain,
    limits: ReplicaOptions['limits'] = {},
  ) {
    this.now = chain.genesis.time
    const n = chain.validators.length
    this.outputs = Array.from({ length: n }, () => [])
    this.times = Array.from({ length: n }, () => [])
    this.commits = Array.from({ length: n }, () => [])
    this.stored = Array.from({ length: n }, () => undefined)
    this.replicas = chain.validators.map(
      (k, i) =>
        new Replica({
          index: i,
          secretKey: k.secretKey,
          state: new LedgerState(chain.genesis),
          headCert: null,
          now: this.now,
          limits: { viewChangeTimeoutBaseMs: 400, retransmitMs: 1_000_000, ...limits },
        }),
    )
    for (let i = 0; i < n; i++) this.drain(i)
  }

  replica(i: number): Replica {
    const r = this.replicas[i]
    if (!r) throw new Error(`replica ${i} is down`)
    return r
  }

  drain(i: number): void {
    const r = this.replicas[i]
    if (!r) return
    for (const out of r.poll()) {
      this.outputs[i]!.push(out)
      this.times[i]!.push(this.now)
      const dropped =
        (out.type === 'broadcast' || out.type === 'send') && this.dropTypes.get(i)?.has(out.msg.type)
      if (out.type === 'persist') this.stored[i] = out.record
      else if (out.type === 'commit') this.commits[i]!.push({ block: out.block, cert: out.cert })
      else if (dropped) continue
      else if (out.type === 'broadcast' && !this.muted.has(i)) {
        const bytes = encode(out.msg)
        for (let j = 0; j < this.replicas.length; j++) if (j !== i) this.queue.push({ from: i, to: j, bytes })
      } else if (out.type === 'send' && !this.muted.has(i)) {
        this.queue.push({ from: i, to: out.to, bytes: encode(out.msg) })
      }
    }
  }

  /** Hands one message to a replica as if validator `from` sent it. */
  inject(from: number, to: number, msg: Msg): void {
    this.replica(to).handleMessage(from, msg, this.now)
    this.drain(to)
  }

  /** Delivers queued messages until none are left (bounded). */
  deliverAll(max = 100_000): void {
    for (let k = 0; k < max && this.queue.length > 0; k++) {
      const m = this.queue.shift()!
      const r = this.replicas[m.to]
      if (!r || this.deaf.has(m.to)) continue
      const decoded = decode(m.bytes)
      if (!decoded.ok) throw new Error(`undecodable message: ${decoded.error.message}`)
      r.handleMessage(m.from, decoded.value, this.now)
      this.drain(m.to)
    }
  }

  /** Advances time in steps, ticking every replica whose deadline passed, delivering in between. */
  advance(ms: number, step = 10): void {
    const end = this.now + ms
    while (this.now < end) {
      this.now = Math.min(end, this.now + step)
      for (let i = 0; i < this.replicas.length; i++) {
        const r = this.replicas[i]
        const d = r?.nextDeadline()
        if (r && d !== undefined && d <= this.now) {
          r.handleTick(this.now)
          this.drain(i)
        }
      }
      this.deliverAll()
    }
  }

  /** Crashes replica `i` (its persisted record and committed blocks survive). */
  crash(i: number): void {
    this.replicas[i] = null
    this.queue.splice(0, this.queue.length, ...this.queue.filter((m) => m.to !== i))
  }

  /** Restarts replica `i` from what it persisted: its commits and its last safety record. */
  restart(i: number, limits: ReplicaOptions['limits'] = {}): Replica {
    const state = new LedgerState(this.chain.genesis)
    let cert: Certificate | null = null
    for (const c of this.commits[i]!) {
      const next = applyBlock(state, c.block, { verifySignatures: false })
      if (!next.ok) throw new Error(next.error.message)
      next.value.mergeIntoParent()
      cert = c.cert
    }
    const safety = this.stored[i]
    const r = new Replica({
      index: i,
      secretKey: this.chain.validators[i]!.secretKey,
      state,
      headCert: cert,
      ...(safety ? { safety } : {}),
      now: this.now,
      limits: { viewChangeTimeoutBaseMs: 400, retransmitMs: 1_000_000, ...limits },
    })
    this.replicas[i] = r
    this.drain(i)
    return r
  }
}

export function chainOf(n: number, seed = 'consensus-replica'): DevChain {
  return makeDevChain({
    seed: `${seed}/${n}`,
    validators: n,
    params: { blockIntervalMs: 50, emptyBlockIntervalMs: 1000 },
  })
}
