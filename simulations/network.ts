import type { Prng } from '../src/prng.js'
import type { Simulator } from './engine.js'

/**
 * A virtual network between numbered addresses: every directed link has its own latency,
 * jitter, loss, duplication and reordering, all drawn from the run's PRNG; partitions split
 * the addresses into groups for a while and then heal. A message crossing a partition is lost
 * (a link failure, as TCP resets would do); senders retransmit.
 */

export interface LinkModel {
  readonly latencyMs: number
  readonly jitterMs: number
  /** Probability a message is lost. */
  readonly loss: number
  /** Probability a message is delivered twice. */
  readonly duplicate: number
  /** Probability a message is held back (by up to `reorderMs`), so later ones overtake it. */
  readonly reorder: number
  readonly reorderMs: number
}

export const PERFECT_LINK: LinkModel = {
  latencyMs: 1,
  jitterMs: 0,
  loss: 0,
  duplicate: 0,
  reorder: 0,
  reorderMs: 0,
}

export interface Partition {
  /** Each address's group; addresses in different groups cannot talk. */
  readonly groupOf: ReadonlyMap<number, number>
  readonly from: number
  readonly until: number
}

export interface NetworkStats {
  sent: number
  delivered: number
  lost: number
  duplicated: number
  partitioned: number
}

export class Network {
  private readonly links = new Map<string, LinkModel>()
  private readonly partitions: Partition[] = []
  readonly stats: NetworkStats = { sent: 0, delivered: 0, lost: 0, duplicated: 0, partitioned: 0 }
  /** While false, links ignore loss (tests of exact scenarios use a lossless network). */
  lossy = true

  constructor(
    private readonly sim: Simulator,
    private readonly prng: Prng,
    private readonly defaultLink: LinkModel = PERFECT_LINK,
  ) {}

  setLink(from: number, to: number, model: LinkModel): void {
    this.links.set(`${from}>${to}`, model)
  }

  link(from: number, to: number): LinkModel {
    return this.links.get(`${from}>${to}`) ?? this.defaultLink
  }

  addPartition(p: Partition): void {
    this.partitions.push(p)
  }

  /** The time the last partition heals (0 when there are none). */
  get healsAt(): number {
    let t = 0
    for (const p of this.partitions) t = Math.max(t, p.until)
    return t
  }

  /** Can `a` reach `b` at time `at`? */
  connected(a: number, b: number, at: number): boolean {
    for (const p of this.partitions) {
      if (at < p.from || at >= p.until) continue
      if ((p.groupOf.get(a) ?? 0) !== (p.groupOf.get(b) ?? 0)) return false
    }
    return true
  }

  /** Sends `payload` from `from` to `to`; `deliver` runs at the receiver's arrival time(s). */
  send(from: number, to: number, deliver: () => void, extraDelayMs = 0): void {
    this.stats.sent++
    const now = this.sim.now
    if (!this.connected(from, to, now)) {
      this.stats.partitioned++
      return
    }
    const model = this.link(from, to)
    if (this.lossy && model.loss > 0 && this.prng.chance(model.loss)) {
      this.stats.lost++
      return
    }
    const copies = model.duplicate > 0 && this.prng.chance(model.duplicate) ? 2 : 1
    if (copies === 2) this.stats.duplicated++
    for (let c = 0; c < copies; c++) {
      let delay = model.latencyMs + extraDelayMs
      if (model.jitterMs > 0) delay += this.prng.int(model.jitterMs + 1)
      if (model.reorder > 0 && this.prng.chance(model.reorder)) delay += this.prng.int(model.reorderMs + 1)
      this.sim.after(delay, () => {
        // A partition that started while the message was in flight cuts it too.
        if (!this.connected(from, to, this.sim.now)) {
          this.stats.partitioned++
          return
        }
        this.stats.delivered++
        deliver()
      })
    }
  }
}
