/**
 * When to dial each peer the node knows: bootstrap addresses, peers it learned of (mDNS, peer
 * exchange) and peers it lost. Pure: the time and a uniform random draw in [0, 1) come in as
 * arguments, so the schedule is tested without timers (test/node/redial.test.ts) and the
 * connector (connector.ts) is only a timer loop around it.
 */

/** The backoff between dials of one peer: base × factor^(attempts − 1), capped, then jittered. */
export interface BackoffPolicy {
  readonly baseMs: number
  readonly maxMs: number
  readonly factor: number
  /** The delay is scaled by a uniform factor in [1 − jitter, 1 + jitter). */
  readonly jitter: number
  /**
   * A connection that stayed open this long was a success: when it closes, the backoff starts
   * over. One that closed sooner (a peer at its connection limit prunes the newest) counts as
   * one more failure, so such a peer is not redialled every second.
   */
  readonly stableMs: number
}

/**
 * The delay before the next dial after `attempts` failures in a row (at least 1), for a draw
 * in [0, 1): within [d × (1 − jitter), d × (1 + jitter)] for d = min(maxMs, base × factor^(n−1)).
 */
export function backoffDelayMs(policy: BackoffPolicy, attempts: number, draw: number): number {
  const exponent = Math.max(0, attempts - 1)
  // factor^exponent becomes Infinity for a peer dead for days, and the cap takes over.
  const capped = Math.min(policy.maxMs, policy.baseMs * policy.factor ** exponent)
  const clampedDraw = Math.min(Math.max(draw, 0), 1 - Number.EPSILON)
  return Math.round(capped * (1 - policy.jitter + 2 * policy.jitter * clampedDraw))
}

/** `waiting`: dial at `dueAt`; `dialing`: a dial is out; `connected`: nothing to do. */
export type RedialState = 'waiting' | 'dialing' | 'connected'

interface Entry {
  state: RedialState
  /** Bootstrap addresses are never forgotten, and dialled before learned peers. */
  pinned: boolean
  /** Failed dials (or short-lived connections) since the last success. */
  attempts: number
  dueAt: number
  connectedAt: number
}

/** What the schedule knows of one peer, for tests and status. */
export interface RedialEntry {
  readonly state: RedialState
  readonly pinned: boolean
  readonly attempts: number
  readonly dueAt: number
}

/**
 * The dial schedule of every known peer, keyed by peer id. Bounded: beyond `capacity` peers, a
 * new one replaces the waiting unpinned peer with the most failures; if every known peer is
 * pinned, connected or being dialled, the new one is not remembered.
 */
export class RedialSchedule {
  private readonly entries = new Map<string, Entry>()
  private dialingCount = 0

  constructor(
    readonly policy: BackoffPolicy,
    readonly capacity: number,
  ) {}

  /** Peers known. */
  get size(): number {
    return this.entries.size
  }

  /** Dials out now (handed out by `take` and not yet settled). */
  get dialing(): number {
    return this.dialingCount
  }

  get(key: string): RedialEntry | undefined {
    const e = this.entries.get(key)
    return e ? { state: e.state, pinned: e.pinned, attempts: e.attempts, dueAt: e.dueAt } : undefined
  }

  /**
   * A peer to keep dialling until it connects; due at once when new. Known already: only
   * `pinned` is raised, so hearing of a peer again does not cut its backoff short.
   * False when the schedule is full of peers it must keep.
   */
  add(key: string, now: number, options: { pinned?: boolean } = {}): boolean {
    const known = this.entries.get(key)
    if (known) {
      if (options.pinned) known.pinned = true
      return true
    }
    if (this.entries.size >= this.capacity && !this.evictOne()) return false
    this.entries.set(key, {
      state: 'waiting',
      pinned: options.pinned === true,
      attempts: 0,
      dueAt: now,
      connectedAt: 0,
    })
    return true
  }

  /**
   * Up to `slots` peers due by `now`, pinned ones first, then the longest overdue; they are
   * `dialing` until `connected` or `failed` is called for them.
   */
  take(now: number, slots: number): string[] {
    if (slots <= 0) return []
    const due: Array<[string, Entry]> = []
    for (const pair of this.entries) if (pair[1].state === 'waiting' && pair[1].dueAt <= now) due.push(pair)
    due.sort(([, a], [, b]) => Number(b.pinned) - Number(a.pinned) || a.dueAt - b.dueAt)
    const chosen = due.slice(0, slots)
    for (const [, e] of chosen) this.setState(e, 'dialing')
    return chosen.map(([key]) => key)
  }

  /** The peer is connected (our dial or theirs); learned of it here if unknown. */
  connected(key: string, now: number): void {
    let e = this.entries.get(key)
    if (!e) {
      if (!this.add(key, now)) return
      e = this.entries.get(key)!
    }
    if (e.state === 'connected') return
    this.setState(e, 'connected')
    e.connectedAt = now
  }

  /**
   * A dial failed: the peer is due again after the backoff, which is returned. Nothing changes
   * (undefined) if the peer connected meanwhile, e.g. by dialling us.
   */
  failed(key: string, now: number, draw: number): number | undefined {
    const e = this.entries.get(key)
    if (!e || e.state === 'connected') return undefined
    return this.retryLater(e, now, draw)
  }

  /**
   * The last connection to the peer closed: it is due again after the backoff (returned).
   * A connection that lasted `stableMs` resets the backoff first. Ignored unless connected.
   */
  disconnected(key: string, now: number, draw: number): number | undefined {
    const e = this.entries.get(key)
    if (e?.state !== 'connected') return undefined
    if (now - e.connectedAt >= this.policy.stableMs) e.attempts = 0
    return this.retryLater(e, now, draw)
  }

  /** Forgets a peer, pinned or not (e.g. our own id). */
  remove(key: string): void {
    const e = this.entries.get(key)
    if (!e) return
    this.setState(e, 'waiting')
    this.entries.delete(key)
  }

  private retryLater(e: Entry, now: number, draw: number): number {
    e.attempts++
    const delay = backoffDelayMs(this.policy, e.attempts, draw)
    this.setState(e, 'waiting')
    e.dueAt = now + delay
    return delay
  }

  private setState(e: Entry, state: RedialState): void {
    if (e.state === 'dialing') this.dialingCount--
    if (state === 'dialing') this.dialingCount++
    e.state = state
  }

  /** Drops the waiting unpinned peer with the most failures (the first such, on a tie). */
  private evictOne(): boolean {
    let victim: [string, Entry] | undefined
    for (const pair of this.entries) {
      const e = pair[1]
      if (e.pinned || e.state !== 'waiting') continue
      if (!victim || e.attempts > victim[1].attempts) victim = pair
    }
    if (!victim) return false
    this.entries.delete(victim[0])
    return true
  }
}
