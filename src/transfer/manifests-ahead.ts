/**
 * Manifests a node holds before it opens their image, and what its neighbours said they hold
 * of those images meanwhile. A device fetches the manifest of a release for it as soon as the
 * release is published (the agent driver asks), long before the approval in a real rollout;
 * the neighbours that answer tell it in the same turn which chunks they hold. When the
 * approval commits, the download starts from both without a round trip: no manifest to ask
 * for, and every holder's `have` already known, so the first requests leave with the
 * download's own `have`.
 *
 * A `have` is kept only for a manifest expected here (being fetched, or fetched), so a
 * neighbour cannot fill memory with announcements of images nobody asked for. Bounded: at most
 * MANIFESTS_AHEAD_MAX manifests (the oldest goes first, with its haves) and TRANSFER_PEERS_MAX
 * haves each. A bitfield only grows while its holder keeps the image, so one kept since is
 * still true or a subset of the truth; a chunk its holder dropped meanwhile is answered
 * `not-found` like any other.
 *
 * Pure bookkeeping; the transfer service checks each manifest against its CID before `put`.
 */
import { MANIFESTS_AHEAD_MAX, TRANSFER_PEERS_MAX } from '../constants.js'
import type { PeerId } from './scheduler.js'

interface Entry {
  /** The manifest's encoded bytes, checked against its CID; undefined while being fetched. */
  bytes: Uint8Array | undefined
  /** The latest `have` bitfield of each neighbour that sent one. */
  readonly haves: Map<PeerId, Uint8Array>
}

export class ManifestsAhead {
  /** By manifest key (CID string), oldest first. */
  private readonly entries = new Map<string, Entry>()

  constructor(
    private readonly manifestsMax = MANIFESTS_AHEAD_MAX,
    private readonly peersMax = TRANSFER_PEERS_MAX,
  ) {}

  /** A fetch of this manifest began: neighbours' haves for it are kept from now on. */
  expect(key: string): void {
    this.entry(key)
  }

  /** The manifest arrived and matched its CID. */
  put(key: string, bytes: Uint8Array): void {
    this.entry(key).bytes = bytes
  }

  /** The manifest's bytes, if held. */
  manifest(key: string): Uint8Array | undefined {
    return this.entries.get(key)?.bytes
  }

  /** A neighbour announced what it holds of an image not open here; kept if it is expected. */
  noteHave(key: string, peer: PeerId, bitfield: Uint8Array): void {
    const entry = this.entries.get(key)
    if (!entry) return
    if (!entry.haves.has(peer) && entry.haves.size >= this.peersMax) return
    entry.haves.set(peer, bitfield)
  }

  /** The image is open here: its haves, to hand to the download, and the entry is dropped. */
  take(key: string): Array<[PeerId, Uint8Array]> {
    const entry = this.entries.get(key)
    if (!entry) return []
    this.entries.delete(key)
    return [...entry.haves]
  }

  /** The fetch failed, or the image was dropped. */
  forget(key: string): void {
    this.entries.delete(key)
  }

  get size(): number {
    return this.entries.size
  }

  private entry(key: string): Entry {
    const known = this.entries.get(key)
    if (known) return known
    if (this.entries.size >= this.manifestsMax) {
      const oldest = this.entries.keys().next()
      if (!oldest.done) this.entries.delete(oldest.value)
    }
    const entry: Entry = { bytes: undefined, haves: new Map() }
    this.entries.set(key, entry)
    return entry
  }
}
