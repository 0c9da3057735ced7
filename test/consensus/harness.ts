import { MemoryReplicaStore } from '../../src/consensus/memory-store.js'
import { decode, encode, type Msg } from '../../src/consensus/messages.js'
import type { Replica, ReplicaOptions, ReplicaOutput } from '../../src/consensus/replica.js'
import { type OutputVerdict, ReplicaDriver } from '../../src/consensus/replica-driver.js'
import type { SafetyRecord } from '../../src/consensus/safety.js'
import type { Block } from '../../src/ledger/block.js'
import type { Certificate } from '../../src/ledger/certificate.js'
import { type DevChain, makeDevChain } from '../../src/ledger/dev-chain.js'

/**
 * A tiny synchronous driver for unit tests of the replica: messages go through the real
 * codec and are delivered in order, with no loss, until the queue is empty; time moves only
 * when a test says so. Every output is recorded per replica. Outputs are carried out by the
 * one `ReplicaDriver`, as on a node; a replica's store (its commits and safety record)
 * survives `crash`, and `restart` starts from it.
 */
export class Harness {
  readonly drivers: (ReplicaDriver | null)[]
  readonly outputs: ReplicaOutput[][]
  readonly stores: MemoryReplicaStore[]
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
    this.stores = Array.from({ length: n }, () => new MemoryReplicaStore())
    this.drivers = chain.validators.map((_, i) => this.startDriver(i, limits))
    for (let i = 0; i < n; i++) this.drain(i)
  }

  /** Each replica's committed blocks, in order. */
  get commits(): { block: Block; cert: Certificate }[][] {
    return this.stores.map((s) => s.blocks)
  }

  /** Each replica's last persisted safety record. */
  get stored(): (SafetyRecord | undefined)[] {
    return this.stores.map((s) => s.safety)
  }

  get replicas(): (Replica | null)[] {
    return this.drivers.map((d) => d?.replica ?? null)
  }

  replica(i: number): Replica {
    const r = this.drivers[i]?.replica
    if (!r) throw new Error(`replica ${i} is down`)
    return r
  }

  drain(i: number): void {
    this.drivers[i]?.flush()
  }

  /** Hands one message to a replica as if validator `from` sent it. */
  inject(from: number, to: number, msg: Msg): void {
    const d = this.drivers[to]
    if (!d) throw new Error(`replica ${to} is down`)
    d.handleMessage(from, msg)
  }

  /** Delivers queued messages until none are left (bounded). */
  deliverAll(max = 100_000): void {
    for (let k = 0; k < max && this.queue.length > 0; k++) {
      const m = this.queue.shift()!
      const d = this.drivers[m.to]
      if (!d || this.deaf.has(m.to)) continue
      const decoded = decode(m.bytes)
      if (!decoded.ok) throw new Error(`undecodable message: ${decoded.error.message}`)
      d.handleMessage(m.from, decoded.value)
    }
  }

  /** Advances time in steps, ticking every replica whose deadline passed, delivering in between. */
  advance(ms: number, step = 10): void {
    const end = this.now + ms
    while (this.now < end) {
      this.now = Math.min(end, this.now + step)
      for (const d of this.drivers) {
        const at = d?.replica.nextDeadline()
        if (d && at !== undefined && at <= this.now) d.tick()
      }
      this.deliverAll()
    }
  }

  /** Crashes replica `i` (its persisted record and committed blocks survive). */
  crash(i: number): void {
    this.drivers[i] = null
    this.queue.splice(0, this.queue.length, ...this.queue.filter((m) => m.to !== i))
  }

  /** Restarts replica `i` from what it persisted: its commits and its last safety record. */
  restart(i: number, limits: ReplicaOptions['limits'] = {}): Replica {
    const d = this.startDriver(i, limits)
    this.drivers[i] = d
    d.flush()
    return d.replica
  }

  private startDriver(i: number, limits: ReplicaOptions['limits']): ReplicaDriver {
    const replica = this.stores[i]!.startReplica({
      genesis: this.chain.genesis,
      index: i,
      secretKey: this.chain.validators[i]!.secretKey,
      now: this.now,
      limits: { viewChangeTimeoutBaseMs: 400, retransmitMs: 1_000_000, ...limits },
    })
    const store = this.stores[i]!
    const sendable = () => !this.muted.has(i)
    return new ReplicaDriver(replica, {
      now: () => this.now,
      // Every output is recorded, also the ones a test drops.
      screen: (out): OutputVerdict => {
        this.outputs[i]!.push(out)
        this.times[i]!.push(this.now)
        const dropped =
          (out.type === 'broadcast' || out.type === 'send') && this.dropTypes.get(i)?.has(out.msg.type)
        return dropped ? 'drop' : undefined
      },
      persist: (record) => {
        store.safety = record
      },
      commit: (block, cert) => store.append(block, cert),
      broadcast: (msg) => {
        if (!sendable()) return
        const bytes = encode(msg)
        for (let j = 0; j < this.drivers.length; j++) if (j !== i) this.queue.push({ from: i, to: j, bytes })
      },
      send: (to, msg) => {
        if (sendable()) this.queue.push({ from: i, to, bytes: encode(msg) })
      },
    })
  }
}

export function chainOf(n: number, seed = 'consensus-replica'): DevChain {
  return makeDevChain({
    seed: `${seed}/${n}`,
    validators: n,
    params: { blockIntervalMs: 50, emptyBlockIntervalMs: 1000 },
  })
}
