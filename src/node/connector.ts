import type { IdentifyResult, Libp2p, Libp2pEvents, PeerId, PeerInfo } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CODE_P2P, type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import {
  PEER_EXCHANGE_INTERVAL_MAX_MS,
  PEER_EXCHANGE_INTERVAL_MIN_MS,
  PEER_EXCHANGE_PEERS_MAX,
  REDIAL_BACKOFF_BASE_MS,
  REDIAL_BACKOFF_FACTOR,
  REDIAL_BACKOFF_JITTER,
  REDIAL_BACKOFF_MAX_MS,
  REDIAL_KNOWN_PEERS_MAX,
  REDIAL_STABLE_CONNECTION_MS,
  REDIAL_TICK_MS,
} from '../constants.js'
import type { Prng } from '../prng.js'
import { type Clock, systemClock } from './clock.js'
import { requestPeers } from './peer-exchange.js'
import { RedialSchedule } from './redial.js'

/** A bootstrap address split into the peer it names and the address itself. */
export interface BootstrapPeer {
  readonly id: PeerId
  readonly addr: Multiaddr
}

/**
 * Parses `network.bootstrap`: each entry a multiaddr ending in `/p2p/<peer id>` (the peer id
 * is what the dial authenticates, and what the node redials). The error names the entry.
 */
export function parseBootstrapList(
  list: readonly string[],
): { ok: true; value: BootstrapPeer[] } | { ok: false; error: string } {
  const out: BootstrapPeer[] = []
  for (const entry of list) {
    try {
      const addr = multiaddr(entry)
      const id = addr.getComponents().findLast((c) => c.code === CODE_P2P)?.value
      if (id === undefined) return { ok: false, error: `bootstrap address "${entry}" has no /p2p/<peer id>` }
      out.push({ id: peerIdFromString(id), addr })
    } catch (cause) {
      return { ok: false, error: `bootstrap address "${entry}" does not parse: ${(cause as Error).message}` }
    }
  }
  return { ok: true, value: out }
}

export interface ConnectorOptions {
  readonly bootstrap: readonly BootstrapPeer[]
  /** Known peers are dialled while the node has fewer connections than this. */
  readonly targetConnections: number
  /** The peer-exchange protocol id; without it the node does not ask neighbours for peers. */
  readonly peerExchangeProtocol?: string
  /** Backoff jitter and the choice of neighbour to ask (seeded from the OS in production). */
  readonly prng: Prng
  /** A dial failed; the peer is tried again in `retryInMs`. */
  readonly onDialError?: (peer: string, error: Error, retryInMs: number) => void
  /** A neighbour answered a peer-exchange request with these peers (before any is dialled). */
  readonly onPeersExchanged?: (from: string, peers: readonly PeerInfo[]) => void
  /** The node's clock; the system clock by default. */
  readonly clock?: Clock
}

/**
 * Keeps the node connected: the thin timer loop around the pure RedialSchedule. It dials
 * bootstrap addresses, peers that discovery (mDNS) or peer exchange reports, and peers whose
 * connection closed, each with capped exponential backoff and jitter for as long as the node
 * runs, but only while the node has fewer than `targetConnections` connections, so a node with
 * enough neighbours stops dialling and a node at its maximum never dials. It asks each new
 * neighbour for peers, and while below target one random neighbour, every 1 s at first and
 * less often while the answers bring nothing new (PEER_EXCHANGE_INTERVAL_MIN_MS..MAX_MS). libp2p 3 does none of this: its bootstrap module dials its list once.
 */
export class Connector {
  readonly schedule = new RedialSchedule(
    {
      baseMs: REDIAL_BACKOFF_BASE_MS,
      maxMs: REDIAL_BACKOFF_MAX_MS,
      factor: REDIAL_BACKOFF_FACTOR,
      jitter: REDIAL_BACKOFF_JITTER,
      stableMs: REDIAL_STABLE_CONNECTION_MS,
    },
    REDIAL_KNOWN_PEERS_MAX,
  )
  /** Ticks of the loop so far: a test waits for a few to see that nothing was dialled. */
  ticks = 0
  /** Connected neighbours that said (by identify) they speak peer exchange. */
  private readonly exchangers = new Set<string>()
  private lastExchangeAt = Number.NEGATIVE_INFINITY
  /** The wait before the next unprompted ask: doubles while answers teach nothing new. */
  private exchangeIntervalMs = PEER_EXCHANGE_INTERVAL_MIN_MS
  private timer: ReturnType<typeof setInterval> | undefined
  private readonly self: string
  private readonly unlisten: Array<() => void> = []
  private readonly clock: Clock

  constructor(
    private readonly node: Libp2p,
    private readonly options: ConnectorOptions,
  ) {
    this.self = node.peerId.toString()
    this.clock = options.clock ?? systemClock
  }

  /**
   * Starts the loop, dialling the bootstrap peers at once; the node's `stop` ends it for good.
   * Peers that connected before are taken as known.
   */
  async start(): Promise<void> {
    if (this.timer !== undefined) return
    const now = this.clock.now()
    for (const { id, addr } of this.options.bootstrap) {
      if (id.equals(this.node.peerId)) continue
      await this.node.peerStore.merge(id, { multiaddrs: [addr.decapsulateCode(CODE_P2P)] })
      this.schedule.add(id.toString(), now, { pinned: true })
    }
    for (const peer of this.node.getPeers()) this.schedule.connected(peer.toString(), now)
    this.on('peer:connect', (e) => this.schedule.connected(e.detail.toString(), this.clock.now()))
    this.on('peer:disconnect', (e) => {
      const key = e.detail.toString()
      this.exchangers.delete(key)
      this.schedule.disconnected(key, this.clock.now(), this.options.prng.next())
    })
    this.on('peer:discovery', (e) => void this.learn([e.detail]))
    this.on('peer:identify', (e) => this.identified(e.detail))
    this.on('stop', () => this.stop())
    this.timer = setInterval(() => this.tick(), REDIAL_TICK_MS)
    this.timer.unref()
    this.tick()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
    for (const remove of this.unlisten.splice(0)) remove()
  }

  /** Connections below the target: how many more the node may dial for. */
  private get room(): number {
    return this.options.targetConnections - this.node.getConnections().length
  }

  /**
   * Peers to keep dialling: their addresses go into the peer store (dials go by peer id), and
   * each is due at once if new. Ourselves and peers without addresses are skipped. Returns how
   * many the schedule did not know.
   */
  async learn(peers: readonly PeerInfo[]): Promise<number> {
    const now = this.clock.now()
    let fresh = 0
    for (const { id, multiaddrs } of peers) {
      const key = id.toString()
      if (key === this.self) continue
      // Before the merge: a new peer in the peer store comes back here as a discovery.
      const unknown = this.schedule.get(key) === undefined
      if (multiaddrs.length > 0) await this.node.peerStore.merge(id, { multiaddrs }).catch(() => {})
      // libp2p also reports a peer as discovered when a failed dial records it, address-less.
      else if (((await this.node.peerStore.get(id).catch(() => undefined))?.addresses.length ?? 0) === 0)
        continue
      if (this.schedule.add(key, now) && unknown) fresh++
    }
    return fresh
  }

  /**
   * Asks `peer` for peers and learns them; the number of peers it listed. Throws if the
   * exchange fails or the answer does not decode.
   */
  async exchange(peer: PeerId): Promise<number> {
    const protocol = this.options.peerExchangeProtocol
    if (protocol === undefined) return 0
    this.lastExchangeAt = this.clock.now()
    const answer = await requestPeers(this.node, protocol, peer, PEER_EXCHANGE_PEERS_MAX)
    if (!answer.ok) throw new Error(`peer exchange with ${peer}: ${answer.error.message}`)
    const infos = answer.value.map((p) => ({ id: p.id, multiaddrs: [...p.addrs] }))
    this.options.onPeersExchanged?.(peer.toString(), infos)
    const fresh = await this.learn(infos.filter((p) => this.node.getConnections(p.id).length === 0))
    this.exchangeIntervalMs =
      fresh > 0
        ? PEER_EXCHANGE_INTERVAL_MIN_MS
        : Math.min(PEER_EXCHANGE_INTERVAL_MAX_MS, this.exchangeIntervalMs * 2)
    return infos.length
  }

  private on<K extends keyof Libp2pEvents>(type: K, listener: (event: Libp2pEvents[K]) => void): void {
    this.node.addEventListener(type, listener)
    this.unlisten.push(() => this.node.removeEventListener(type, listener))
  }

  private identified(result: IdentifyResult): void {
    const protocol = this.options.peerExchangeProtocol
    if (protocol === undefined || !result.protocols.includes(protocol)) return
    this.exchangers.add(result.peerId.toString())
    if (this.room > 0) this.exchange(result.peerId).catch(() => {})
  }

  private tick(): void {
    if (this.node.status !== 'started') return
    this.ticks++
    const now = this.clock.now()
    for (const key of this.schedule.take(now, this.room - this.schedule.dialing)) void this.dial(key)
    if (this.room > 0 && this.exchangers.size > 0 && now - this.lastExchangeAt >= this.exchangeIntervalMs) {
      const peer = this.options.prng.pick([...this.exchangers])
      this.exchange(peerIdFromString(peer)).catch(() => {})
    }
  }

  private async dial(key: string): Promise<void> {
    const id = peerIdFromString(key)
    try {
      if (this.node.getConnections(id).length === 0) await this.node.dial(id)
      this.schedule.connected(key, this.clock.now())
      // It may have closed again before we got here; its disconnect event was ignored then.
      if (this.node.getConnections(id).length === 0)
        this.schedule.disconnected(key, this.clock.now(), this.options.prng.next())
    } catch (cause) {
      const retryInMs = this.schedule.failed(key, this.clock.now(), this.options.prng.next())
      if (retryInMs !== undefined && this.node.status === 'started')
        this.options.onDialError?.(key, cause as Error, retryInMs)
    }
  }
}
