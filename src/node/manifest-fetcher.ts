import { type CID, cidToString } from '../codec/cid.js'
import { MANIFEST_BYTES_MAX, MANIFEST_FETCH_TIMEOUT_MS, MANIFEST_RETRY_INTERVAL_MS } from '../constants.js'
import { decodeManifest } from '../transfer/manifest.js'
import { ManifestsAhead } from '../transfer/manifests-ahead.js'
import type { ChunkMessage } from '../transfer/messages.js'
import type { Logger } from './log.js'

/**
 * Manifests of images not open on this node, fetched by CID from neighbours: for a download,
 * or ahead of one (a release published for this device and not yet approved), so that the
 * download starts without a round trip. Meanwhile it keeps the neighbours' haves for the image
 * (transfer/manifests-ahead.ts) and serves a manifest it holds ahead like an open image's.
 * Every manifest is checked against its CID before anyone sees it.
 */
export class ManifestFetcher {
  private readonly waiters = new Map<string, Array<(bytes: Uint8Array) => void>>()
  private readonly ahead = new ManifestsAhead()
  /** Fetches under way: a prefetch and a download of one manifest ask once. */
  private readonly fetches = new Map<string, Promise<Uint8Array | null>>()

  constructor(
    private readonly net: { peers(): string[]; send(peer: string, msg: ChunkMessage): void },
    private readonly log: Logger,
  ) {}

  /** A manifest's bytes: held ahead, being fetched (joined), or fetched now; null: nobody sent it. */
  get(cid: CID): Promise<Uint8Array | null> {
    const key = cidToString(cid)
    const held = this.ahead.manifest(key)
    if (held) return Promise.resolve(held)
    let fetching = this.fetches.get(key)
    if (!fetching) {
      this.ahead.expect(key)
      fetching = this.fetch(cid).then((bytes) => {
        this.fetches.delete(key)
        if (bytes) this.ahead.put(key, bytes)
        else this.ahead.forget(key)
        return bytes
      })
      this.fetches.set(key, fetching)
    }
    return fetching
  }

  /** Fetches a manifest ahead of its download. */
  prefetch(cid: CID): void {
    void this.get(cid)
  }

  /** The haves neighbours sent for the image before it opened here (the download starts with them). */
  takeHeard(key: string): ReturnType<ManifestsAhead['take']> {
    return this.ahead.take(key)
  }

  /** A message about an image not open here, or a manifest answering one of our requests. */
  handle(peer: string, msg: ChunkMessage): void {
    const key = cidToString(msg.manifest)
    if (msg.type === 'manifest') {
      const waiters = this.waiters.get(key)
      if (!waiters || msg.bytes.byteLength > MANIFEST_BYTES_MAX) return
      if (!decodeManifest(msg.bytes, { expectedCid: msg.manifest }).ok) {
        this.log.warn({ peer, manifest: key }, 'a neighbour sent a manifest that does not match its CID')
        return
      }
      this.waiters.delete(key)
      for (const w of waiters) w(msg.bytes)
      return
    }
    if (msg.type === 'have') {
      // A neighbour announces an image whose manifest we are waiting for: ask it.
      if (this.waiters.has(key)) this.net.send(peer, { type: 'manifest-request', manifest: msg.manifest })
      this.ahead.noteHave(key, peer, msg.bitfield)
    }
    // A manifest fetched ahead of its download is served like that of an open image.
    const bytes = msg.type === 'manifest-request' ? this.ahead.manifest(key) : undefined
    if (bytes) this.net.send(peer, { type: 'manifest', manifest: msg.manifest, bytes })
  }

  /**
   * Asks every neighbour, again every MANIFEST_RETRY_INTERVAL_MS (new neighbours connect, and
   * neighbours that had nothing may have fetched it meanwhile), and also any neighbour that
   * announces chunks of it. The first answer matching the CID wins.
   */
  private fetch(cid: CID): Promise<Uint8Array | null> {
    const key = cidToString(cid)
    const asked = new Set<string>()
    const ask = () => {
      for (const peer of this.net.peers()) {
        if (asked.has(peer)) continue
        asked.add(peer)
        this.net.send(peer, { type: 'manifest-request', manifest: cid })
      }
    }
    const got = new Promise<Uint8Array | null>((resolve) => {
      const retry = setInterval(() => {
        asked.clear()
        ask()
      }, MANIFEST_RETRY_INTERVAL_MS)
      const timer = setTimeout(() => {
        clearInterval(retry)
        this.waiters.delete(key)
        resolve(null)
      }, MANIFEST_FETCH_TIMEOUT_MS)
      const list = this.waiters.get(key) ?? []
      list.push((bytes) => {
        clearTimeout(timer)
        clearInterval(retry)
        resolve(bytes)
      })
      this.waiters.set(key, list)
    })
    ask()
    return got
  }
}
