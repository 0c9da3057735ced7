import { randomBytes } from 'node:crypto'
import { copyFile, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { bytesEqual } from '../codec/bytes.js'
import { type CID, cidToString, parseCid } from '../codec/cid.js'
import {
  CHUNK_BYTES_MAX,
  HAVE_UPDATE_INTERVAL_MS,
  LINK_RETELL_DELAY_MS,
  MEMORY_CHECK_BYTES,
  STORE_FLUSH_INTERVAL_MS,
  UPLOAD_SLOTS_MAX,
} from '../constants.js'
import { Prng } from '../prng.js'
import type { ChunkStore } from '../transfer/chunk-store.js'
import { FrameCredits } from '../transfer/frame-credits.js'
import { decodeManifest, type Manifest, verifyChunk } from '../transfer/manifest.js'
import { type ChunkMessage, chunkProtocolId, encodeChunkDataParts } from '../transfer/messages.js'
import { type SessionOutput, TransferSession, type UploadJob } from '../transfer/session.js'
import type { FetchResult, ImageFetcher } from './agent-driver.js'
import { writeAtomically } from './atomic-file.js'
import { ChunkLinks, type ChunkTraffic } from './chunk-links.js'
import { type Clock, systemClock } from './clock.js'
import type { Host } from './host.js'
import type { Logger } from './log.js'
import { ManifestFetcher } from './manifest-fetcher.js'
import { PublishStaging, type StagedImage } from './publish-staging.js'
import { FileChunkStore } from './store/file-chunk-store.js'
import { chunkImageFile } from './store/image-chunker.js'
import { TokenBucket } from './token-bucket.js'

/** A download in progress (the session's scheduler decides), bytes counted per neighbour. */
interface Download {
  readonly bytesFrom: Map<string, number>
  readonly startedAt: number
  flushTimer: NodeJS.Timeout | undefined
  done: Promise<FetchResult>
  finish: (r: FetchResult) => void
  finishing: boolean
  /** Chunk writes under way: neighbours' chunks are written concurrently. */
  writesPending: number
  /** Neighbours the scheduler banned, with the reason. */
  readonly banned: Map<string, string>
  /** Chunks already held when this download (re)started: what a resume did not fetch again. */
  readonly heldAtStart: number
}

/** An image this node holds, whole or in part, by manifest CID. */
interface Image {
  readonly cid: CID
  readonly key: string
  readonly manifest: Manifest
  readonly manifestBytes: Uint8Array
  readonly store: ChunkStore
  /** The chunk protocol's decisions for this image (transfer/session.ts), shared with the simulator. */
  session: TransferSession
  download: Download | null
  uploadedBytes: number
  /** An upload pump is waiting for tokens or starting sends (pumpUploads). */
  pumping: boolean
  /** Chunks were stored this turn: neighbours holding every chunk hear of them at its end. */
  announcing: boolean
  /** Chunks wait for the next have-update to neighbours still downloading (HAVE_UPDATE_INTERVAL_MS). */
  announceTimer: NodeJS.Timeout | undefined
  /** The one timer of the session (its scheduler's next timeout). */
  timer: NodeJS.Timeout | undefined
}

/**
 * The node's side of `/fwmesh/<chain>/chunks/1` (DESIGN.md §5): the I/O around each image's
 * `TransferSession`, which decides what to tell, ask, serve and refuse (the simulator drives
 * the same core). Here: messages over chunk links, the upload and download bandwidth limits,
 * upload slots sending side by side, chunks verified against the manifest and written into a
 * resumable chunk store, manifests fetched by CID from neighbours and checked against it.
 */
export class TransferService implements ImageFetcher {
  private readonly images = new Map<string, Image>()
  /** Images this node seeds as their origin (published here, or added with `addImage`). */
  private readonly origins = new Set<string>()
  /**
   * Image bytes moved since the node started (`fwmesh_image_bytes_total`): served as an
   * image's origin, served as a peer that fetched it, and fetched (always from peers: a device
   * cannot tell an origin from a neighbour that holds the whole image).
   */
  readonly imageBytes = { upOrigin: 0, upPeer: 0, down: 0 }
  /** Chunk bytes accepted since the memory watch was last checked. */
  private receivedSinceCheck = 0
  private readonly links: ChunkLinks
  /** Manifests of images not open here: fetched from neighbours, ahead of a download or for it. */
  private readonly manifests: ManifestFetcher
  private readonly upload: TokenBucket
  private readonly download: TokenBucket
  private readonly prng = Prng.fromBytes(randomBytes(32))
  /** Which large frames each neighbour may send: what this node asked of it (frame-credits.ts). */
  private readonly credits = new FrameCredits()
  /** Published images waiting for their release to commit (publish-staging.ts). */
  readonly staging: PublishStaging

  constructor(
    private readonly host: Host,
    chainId: string,
    private readonly dir: string,
    bandwidth: { uploadBytesPerSec: number; downloadBytesPerSec: number },
    private readonly log: Logger,
    /**
     * The daemon's memory watch: checked every MEMORY_CHECK_BYTES received (a fast download
     * outruns its once-a-second timer), collected when a download ends, whatever its outcome.
     */
    private readonly memory: { check(): boolean; collectNow(): void } = {
      check: () => false,
      collectNow: () => {},
    },
    /** The node's clock: the sessions' time, the staging's TTL, the logged timings. */
    private readonly clock: Clock = systemClock,
  ) {
    this.links = new ChunkLinks(
      host,
      chunkProtocolId(chainId),
      {
        onMessage: async (peer, msg) => {
          // The download limit holds the read loop, so a fast sender is slowed by back-pressure.
          if (msg.type === 'chunk') await this.download.take(msg.data.byteLength)
          await this.handle(peer, msg)
        },
        onDropped: (peer, misbehaved) => this.neighbourLeft(peer, misbehaved),
        admit: (peer, length) => this.credits.admit(peer, length),
      },
      log,
    )
    this.manifests = new ManifestFetcher(
      {
        peers: () => this.connectedPeers(),
        send: (peer, msg) => void this.send(peer, msg),
      },
      log,
    )
    this.staging = new PublishStaging(
      join(dir, 'staging'),
      {
        held: (key) => {
          const image = this.images.get(key)
          return image ? (image.store.isComplete() ? 'whole' : 'partial') : undefined
        },
        adopt: (staged) => this.adoptPublished(staged),
      },
      log,
      clock,
    )
    this.upload = new TokenBucket(bandwidth.uploadBytesPerSec)
    this.download = new TokenBucket(bandwidth.downloadBytesPerSec)
  }

  async start(): Promise<void> {
    await this.links.start()
    // A neighbour that connects during a download is asked at once.
    this.host.addEventListener('peer:connect', (event) => {
      const peer = event.detail.toString()
      for (const image of this.images.values()) {
        image.session.handlePeerConnected(peer)
        this.drainSession(image)
      }
    })
    await this.loadExisting()
  }

  /** Re-opens the images left in the data directory: complete ones are served again. */
  private async loadExisting(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[])
    for (const name of names) {
      if (!name.endsWith('.manifest')) continue
      const cid = parseCid(name.slice(0, -'.manifest'.length))
      if (!cid) continue
      const bytes = await readFile(join(this.dir, name))
      const manifest = decodeManifest(bytes, { expectedCid: cid })
      if (!manifest.ok) {
        this.log.warn({ file: name, err: manifest.error.message }, 'ignoring an unreadable manifest')
        continue
      }
      const image = await this.openImage(cid, manifest.value, bytes)
      const published = await readFile(this.paths(image.key).origin).then(
        () => true,
        () => false,
      )
      if (published && image.store.isComplete()) {
        this.origins.add(image.key)
        this.startSeeding(image)
      }
    }
  }

  private paths(key: string) {
    return {
      image: join(this.dir, `${key}.img`),
      manifest: join(this.dir, `${key}.manifest`),
      // Marks an image this node published, so it super-seeds it again after a restart.
      origin: join(this.dir, `${key}.origin`),
    }
  }

  private async openImage(cid: CID, manifest: Manifest, manifestBytes: Uint8Array): Promise<Image> {
    const key = cidToString(cid)
    const existing = this.images.get(key)
    if (existing) return existing
    const store = await FileChunkStore.open({ imagePath: this.paths(key).image, manifest })
    if (!store.ok) throw new Error(`cannot open the image store for ${key}: ${store.error.message}`)
    // The manifest is written in the background, after the store is open: its fsync need not
    // delay the download. A crash (or a failed write) that loses it only means fetching it
    // again after a restart; the image file is then reopened and rescanned. Started before the
    // open, its fsync (0.07-2.2 s while 20 nodes write, in the fidelity and swarm runs) held one
    // of libuv's four file threads, and the open waited behind it and the agent's own fsync:
    // 1.6 s of a device's 2.8 s from approval to its download starting, in a linkBound run.
    const writing = this.clock.now()
    void writeAtomically(this.paths(key).manifest, manifestBytes).then(
      () => this.log.debug({ manifest: key, ms: this.clock.now() - writing }, 'manifest written'),
      (cause: unknown) =>
        this.log.warn(
          { manifest: key, err: (cause as Error).message },
          'could not write the manifest; a restart will fetch it again',
        ),
    )
    const image: Image = {
      cid,
      key,
      manifest,
      manifestBytes,
      store: store.value,
      session: new TransferSession({ chunkCount: store.value.chunkCount, held: store.value.heldBitfield() }),
      download: null,
      uploadedBytes: 0,
      pumping: false,
      announcing: false,
      announceTimer: undefined,
      timer: undefined,
    }
    this.images.set(key, image)
    return image
  }

  /**
   * A staged image whose release committed (publish-staging.ts): it moves beside the others,
   * and this node seeds it as its origin.
   */
  private async adoptPublished(staged: StagedImage): Promise<boolean> {
    const to = this.paths(cidToString(staged.cid))
    // A held-state file left by an earlier partial download would describe another file.
    await rm(`${to.image}.held`, { force: true })
    await rename(staged.path, to.image)
    const image = await this.openImage(staged.cid, staged.manifest, staged.encoded)
    if (!image.store.isComplete()) {
      this.log.error({ manifest: image.key }, 'a published image did not verify when it was opened')
      return false
    }
    await writeAtomically(to.origin, new Uint8Array())
    this.origins.add(image.key)
    this.startSeeding(image)
    return true
  }

  /** Seeds an image file on this machine (the publisher's node): the origin of a release. */
  async addImage(
    path: string,
    manifestText: string,
  ): Promise<{ ok: true; chunks: number } | { ok: false; message: string }> {
    const cid = parseCid(manifestText)
    if (!cid) return { ok: false, message: `"${manifestText}" is not a manifest CID` }
    const chunked = await chunkImageFile(path)
    if (!chunked.ok) return { ok: false, message: `cannot read ${path}: ${chunked.error.message}` }
    if (!chunked.value.cid.equals(cid))
      return { ok: false, message: `${path} does not match manifest ${manifestText}` }
    const key = cidToString(cid)
    if (!this.images.has(key)) await copyFile(path, this.paths(key).image)
    const image = await this.openImage(cid, chunked.value.manifest, chunked.value.encoded)
    if (!image.store.isComplete()) return { ok: false, message: 'the copied image did not verify' }
    await writeAtomically(this.paths(key).origin, new Uint8Array())
    this.origins.add(key)
    this.startSeeding(image)
    return { ok: true, chunks: image.store.chunkCount }
  }

  /**
   * The origin sends each chunk once and lets the swarm carry it (transfer/seed-policy.ts), and
   * tells every neighbour it holds the image.
   */
  private startSeeding(image: Image): void {
    if (image.download || !image.session.isComplete()) return
    image.session.startSeeding(this.connectedPeers())
    this.drainSession(image)
    this.log.info({ manifest: image.key, chunks: image.store.chunkCount }, 'super-seeding a published image')
  }

  private connectedPeers(): string[] {
    return this.host.getPeers().map((p) => p.toString())
  }

  /** Chunk-protocol messages and bytes each way since the node started. */
  traffic(): Readonly<ChunkTraffic> {
    return this.links.traffic
  }

  /** Percent (0-100, whole) of an image held, or undefined when the node has none of it open. */
  percentHeld(manifest: string): number | undefined {
    const image = this.images.get(manifest)
    if (!image || image.store.chunkCount === 0) return undefined
    return Math.floor((100 * image.store.chunksHeld) / image.store.chunkCount)
  }

  imagePath(manifest: string): string {
    return this.paths(manifest).image
  }

  async bytesOnDisk(manifest: string): Promise<number> {
    try {
      // Allocated blocks, not the size: the store sets the file's size at once (sparse).
      return (await stat(this.paths(manifest).image)).blocks * 512
    } catch (cause) {
      if ((cause as { code?: unknown }).code === 'ENOENT') return 0
      throw cause
    }
  }

  /** The manifest of an image this node holds or is fetching, by its CID string. */
  heldManifest(manifest: string): Manifest | undefined {
    return this.images.get(manifest)?.manifest
  }

  /** Downloads an image (resuming what is held) from every neighbour at once. */
  async fetch(manifestText: string, release: { id: string; imageSize: number; imageSha256: Uint8Array }) {
    const cid = parseCid(manifestText)
    if (!cid) return { ok: false as const, reason: `bad manifest id ${manifestText}` }
    const key = cidToString(cid)
    let image = this.images.get(key)
    if (!image) {
      // Debug timings of the steps before the first request (the fidelity run reads them).
      const asked = this.clock.now()
      const bytes = await this.manifests.get(cid)
      if (!bytes) return { ok: false as const, reason: 'no neighbour sent the manifest' }
      const manifest = decodeManifest(bytes, { expectedCid: cid })
      if (!manifest.ok) return { ok: false as const, reason: `bad manifest: ${manifest.error.message}` }
      const fetched = this.clock.now()
      image = await this.openImage(cid, manifest.value, bytes)
      this.log.debug(
        { manifest: key, fetchMs: fetched - asked, openMs: this.clock.now() - fetched },
        'manifest fetched and image store opened',
      )
    }
    if (
      image.manifest.imageSize !== release.imageSize ||
      !bytesEqual(image.manifest.imageSha256, release.imageSha256)
    ) {
      return { ok: false as const, reason: 'the manifest does not describe the release image' }
    }
    // Haves heard before the image was open here (ManifestsAhead): the download starts with
    // them, so its first requests leave with its own have instead of a round trip later.
    const heard = this.manifests.takeHeard(key)
    if (image.store.isComplete()) return this.complete(image)
    if (image.download) return image.download.done
    const done = this.startDownload(image)
    const connected = new Set(this.host.getConnections().map((c) => c.remotePeer.toString()))
    for (const [peer, bitfield] of heard)
      if (connected.has(peer)) void this.handle(peer, { type: 'have', manifest: image.cid, bitfield })
    return done
  }

  /**
   * Fetches a manifest ahead of its download (the agent driver asks when a release for this
   * device is published), so that the download starts without asking for it.
   */
  prefetchManifest(manifestText: string): void {
    const cid = parseCid(manifestText)
    if (cid && !this.images.has(cidToString(cid))) this.manifests.prefetch(cid)
  }

  private startDownload(image: Image): Download['done'] {
    let finish!: Download['finish']
    const done = new Promise<FetchResult>((resolve) => {
      finish = resolve
    })
    // The store may hold less than the session thinks (a final check found a bad chunk, and
    // its rescan dropped it): a session that disagrees starts again from the store.
    if (image.session.chunksHeld !== image.store.chunksWritten) {
      image.session = new TransferSession({
        chunkCount: image.store.chunkCount,
        held: image.store.heldBitfield(),
      })
    }
    const download: Download = {
      bytesFrom: new Map(),
      startedAt: this.clock.now(),
      flushTimer: undefined,
      writesPending: 0,
      banned: new Map(),
      heldAtStart: image.store.chunksHeld,
      done,
      finish,
      finishing: false,
    }
    image.download = download
    // Slow links must still announce chunks promptly: flush (and tell) on an interval too.
    download.flushTimer = setInterval(() => void this.flushAndTell(image), STORE_FLUSH_INTERVAL_MS)
    image.session.startDownload(this.prng.child(image.key), this.connectedPeers())
    this.drainSession(image)
    this.log.info(
      { manifest: image.key, chunks: image.store.chunkCount, held: image.store.chunksHeld },
      'download started',
    )
    return done
  }

  private async complete(image: Image): Promise<FetchResult> {
    const verified = await image.store.verifyImage()
    if (!verified.ok) return { ok: false, reason: verified.error.message }
    return { ok: true, path: this.paths(image.key).image }
  }

  async dropAllBut(keep: string): Promise<string[]> {
    const cid = parseCid(keep)
    const key = cid ? cidToString(cid) : keep
    const drop = [...this.images.keys()].filter((k) => k !== key && !this.origins.has(k))
    for (const k of drop) await this.cancel(k)
    return drop
  }

  async cancel(manifest: string): Promise<void> {
    const image = this.images.get(manifest)
    if (!image) return
    this.stopDownload(image, { ok: false, reason: 'cancelled' })
    if (image.announceTimer) clearTimeout(image.announceTimer)
    this.images.delete(manifest)
    this.origins.delete(manifest)
    await image.store.close({ flush: false })
    const paths = this.paths(manifest)
    await Promise.all([
      rm(paths.image, { force: true }),
      rm(`${paths.image}.held`, { force: true }),
      rm(paths.manifest, { force: true }),
      rm(paths.origin, { force: true }),
    ])
  }

  private stopDownload(image: Image, result: FetchResult): void {
    const d = image.download
    if (!d) return
    if (image.timer) clearTimeout(image.timer)
    image.timer = undefined
    if (d.flushTimer) clearInterval(d.flushTimer)
    image.session.stopDownload()
    image.download = null
    d.finish(result)
  }

  /** Progress of every image this node holds, for the API and the demo. */
  downloads() {
    return [...this.images.values()].map((image) => ({
      manifest: image.key,
      chunks: image.store.chunkCount,
      held: image.store.chunksHeld,
      written: image.store.chunksWritten,
      complete: image.store.isComplete(),
      downloading: image.download !== null,
      bytesFrom: Object.fromEntries(
        image.download?.bytesFrom ?? this.finished.get(image.key)?.bytesFrom ?? [],
      ),
      banned: Object.fromEntries(image.download?.banned ?? this.finished.get(image.key)?.banned ?? []),
      heldAtStart: image.download?.heldAtStart ?? this.finished.get(image.key)?.heldAtStart ?? null,
      uploadedBytes: image.uploadedBytes,
    }))
  }

  /** What a finished download counted, kept for status and the demo's summary. */
  private readonly finished = new Map<
    string,
    { bytesFrom: Map<string, number>; banned: Map<string, string>; heldAtStart: number }
  >()

  /** A neighbour's link broke: forget what it announced and what it asked. */
  private neighbourLeft(peer: string, misbehaved = false): void {
    this.credits.forget(peer)
    let downloading = false
    const now = this.clock.now()
    for (const image of this.images.values()) {
      if (image.download) downloading = true
      image.session.handlePeerLeft(peer, now)
      this.drainSession(image)
    }
    // A neighbour that broke a rule is not invited back on this connection: rejoining would
    // give it a clean record with the scheduler. A new connection starts afresh.
    if (downloading && !misbehaved) this.retellLater(peer)
  }

  /** Neighbours to tell our downloads again, once their broken link has had time to clear. */
  private readonly retells = new Map<string, NodeJS.Timeout>()

  /**
   * A link can break while the connection stays up (a stalled frame, a reset stream). The
   * neighbour is only told our images again on a new connection, so without this two connected
   * neighbours stopped trading chunks for good. A neighbour still connected after
   * LINK_RETELL_DELAY_MS is told again (a new link opens with the message), and answers with
   * what it holds. Only after a link that ended without a fault of the neighbour's.
   */
  private retellLater(peer: string): void {
    if (this.retells.has(peer)) return
    const timer = setTimeout(() => {
      this.retells.delete(peer)
      if (this.host.getConnections().every((c) => c.remotePeer.toString() !== peer)) return
      for (const image of this.images.values()) {
        image.session.handlePeerConnected(peer)
        this.drainSession(image)
      }
    }, LINK_RETELL_DELAY_MS)
    timer.unref()
    this.retells.set(peer, timer)
  }

  private send(peer: string, msg: ChunkMessage): Promise<void> {
    if (msg.type === 'manifest-request') this.credits.grantManifest(peer)
    if (msg.type === 'request') {
      // Requests are only sent for images held (in part); the protocol's largest chunk otherwise.
      const image = this.images.get(cidToString(msg.manifest))
      this.credits.grantChunk(peer, image?.manifest.chunkSize ?? CHUNK_BYTES_MAX)
    }
    return this.links.send(peer, msg)
  }

  private async handle(peer: string, msg: ChunkMessage): Promise<void> {
    const key = cidToString(msg.manifest)
    const image = this.images.get(key)
    if (!image || msg.type === 'manifest') {
      this.manifests.handle(peer, msg)
      return
    }
    const now = this.clock.now()
    const session = image.session
    switch (msg.type) {
      case 'manifest-request':
        void this.send(peer, { type: 'manifest', manifest: image.cid, bytes: image.manifestBytes })
        // With what we hold, unasked: the asker keeps it for its download's start
        // (ManifestsAhead), instead of learning it from our answer to its first have.
        if (session.chunksHeld > 0) session.tellAgain(peer)
        break
      case 'have':
        session.handleHave(peer, msg.bitfield, now)
        break
      case 'have-update':
        session.handleHaveUpdate(peer, msg.chunks, now)
        break
      case 'request':
        if (session.handleRequest(peer, msg.chunk, now)) this.pumpUploads(image)
        break
      case 'cancel':
        session.handleCancel(peer, msg.chunk)
        return
      case 'not-found':
        session.handleNotFound(peer, msg.chunk, msg.reason, now)
        break
      case 'chunk':
        await this.receiveChunk(image, peer, msg.chunk, msg.data)
        return
    }
    this.drainSession(image)
  }

  /**
   * Starts a send in every free upload slot, each once the uplink has the tokens for it. Sends
   * run side by side, so a neighbour that reads slowly (its download limit holds its read loop,
   * and yamux's window then holds our write) holds one slot, not the whole uplink.
   *
   * The tokens come first and the job is chosen after: a job taken from the queue is committed
   * (a cancel no longer reaches it), so choosing jobs before the uplink can send them committed
   * up to UPLOAD_SLOTS_MAX chunks a second ahead at 1 MiB/s. In the end-game most of those
   * were duplicates whose cancel arrived during the wait: in the fidelity run devices uploaded
   * 605 chunks for the 480 the swarm needed (+26%, `npm run sim:fidelity`).
   */
  private pumpUploads(image: Image): void {
    if (image.pumping) return
    image.pumping = true
    void this.runUploadPump(image)
  }

  private async runUploadPump(image: Image): Promise<void> {
    const chunkBytes = image.manifest.chunkSize
    try {
      while (image.session.uploadsWaiting > 0 && image.session.uploadsSending < UPLOAD_SLOTS_MAX) {
        const asked = this.clock.now()
        await this.upload.take(chunkBytes)
        const job = image.session.takeUpload()
        if (!job) {
          // Every waiting request was cancelled (or its peer left) during the wait.
          this.upload.refund(chunkBytes)
          return
        }
        void this.sendUpload(image, job, this.clock.now() - asked)
      }
    } finally {
      // Cleared in the same turn as the loop's last check, so no request is left unpumped.
      image.pumping = false
    }
  }

  private async sendUpload(image: Image, job: UploadJob, tokenMs: number): Promise<void> {
    // The session that queued the job hears it was sent, even if a new one replaced it meanwhile.
    const session = image.session
    try {
      const data = await image.store.readChunk(job.chunk)
      if (!data.ok) {
        this.upload.refund(image.manifest.chunkSize)
        void this.send(job.peer, {
          type: 'not-found',
          manifest: image.cid,
          chunk: job.chunk,
          reason: 'not-held',
        })
        return
      }
      // The tokens were taken for a whole chunk; the last one may be shorter.
      this.upload.refund(image.manifest.chunkSize - data.value.byteLength)
      const granted = this.clock.now()
      await this.links.sendParts(job.peer, encodeChunkDataParts(image.cid, job.chunk, data.value))
      image.uploadedBytes += data.value.byteLength
      if (this.origins.has(image.key)) this.imageBytes.upOrigin += data.value.byteLength
      else this.imageBytes.upPeer += data.value.byteLength
      // Debug timings of one upload (the fidelity run reads them): waiting for the uplink's
      // tokens, then for the frame to be written into the neighbour's stream.
      this.log.debug(
        { peer: job.peer, chunk: job.chunk, tokenMs, writeMs: this.clock.now() - granted },
        'chunk sent',
      )
    } catch (cause) {
      this.log.warn(
        { peer: job.peer, chunk: job.chunk, err: (cause as Error).message },
        'could not send a chunk',
      )
    } finally {
      session.uploadSent(job.peer, job.chunk)
      this.pumpUploads(image)
    }
  }

  private async receiveChunk(image: Image, peer: string, chunk: number, data: Uint8Array): Promise<void> {
    const d = image.download
    if (!d || chunk >= image.store.chunkCount) return
    const session = image.session
    const verdict = verifyChunk(image.manifest, chunk, data)
    const outcome = session.handleChunk(peer, chunk, verdict, this.clock.now())
    if (outcome === 'rejected') this.log.warn({ peer, chunk, verdict }, 'a neighbour sent a bad chunk')
    if (outcome === 'duplicate') this.log.debug({ peer, chunk }, 'chunk received twice')
    if (outcome === 'accepted') {
      if (d.bytesFrom.size === 0)
        this.log.debug(
          { manifest: image.key, peer, ms: this.clock.now() - d.startedAt },
          'first chunk arrived',
        )
      d.bytesFrom.set(peer, (d.bytesFrom.get(peer) ?? 0) + data.byteLength)
      this.imageBytes.down += data.byteLength
      this.log.debug({ peer, chunk, inFlight: session.swarm?.peer(peer)?.inFlight }, 'chunk received')
      this.receivedSinceCheck += data.byteLength
      if (this.receivedSinceCheck >= MEMORY_CHECK_BYTES) {
        this.receivedSinceCheck = 0
        this.memory.check()
      }
      d.writesPending++
      // Verified above: the store does not hash it again.
      const written = await image.store.writeChunk(chunk, data, { verified: true }).finally(() => {
        d.writesPending--
      })
      if (!written.ok) {
        this.log.error({ chunk, err: written.error.message }, 'could not write a chunk')
        session.handleChunkLost(chunk, this.clock.now())
        if (written.error.code === 'io' && written.error.noSpace && image.download === d) {
          // A full disk does not empty by asking again: the download stops, what was written
          // before stays (held once flushed), and the agent decides on the next attempt.
          this.stopDownload(image, {
            ok: false,
            reason: `no space left on device: ${written.error.message}`,
            noSpace: true,
          })
          return
        }
      } else if (written.value.written) {
        // Announced once written, not once durable (FileChunkStore.canServe says why).
        session.chunkStored(chunk)
        this.announceAtEndOfTurn(image)
      }
    }
    this.drainSession(image)
    // The scheduler counts a chunk done when it arrives; the image is done when the last
    // write has landed too.
    if (image.download === d && session.downloadAccepted() && d.writesPending === 0 && !d.finishing) {
      d.finishing = true
      this.announceToAll(image)
      await this.flushAndTell(image)
      this.finished.set(image.key, { bytesFrom: d.bytesFrom, banned: d.banned, heldAtStart: d.heldAtStart })
      const result = await this.complete(image)
      this.log.info(
        {
          manifest: image.key,
          seconds: (this.clock.now() - d.startedAt) / 1000,
          ok: result.ok,
          ...(result.ok ? {} : { why: result.reason }),
        },
        'download finished',
      )
      this.stopDownload(image, result)
      this.memory.collectNow()
    }
  }

  private async flushAndTell(image: Image): Promise<void> {
    // Chunks were announced when written; the flush only makes them durable for a resume.
    await image.store.flush()
  }

  /**
   * New chunks are announced in two tiers (TransferSession.announce): neighbours holding every
   * chunk (the origin's super-seeding) at the end of the turn, one have-update for all the
   * chunks the turn stored; neighbours still downloading every HAVE_UPDATE_INTERVAL_MS, one
   * have-update for all the chunks stored meanwhile.
   */
  private announceAtEndOfTurn(image: Image): void {
    if (!image.announcing) {
      image.announcing = true
      setImmediate(() => {
        image.announcing = false
        image.session.announce('complete-holders')
        this.drainSession(image)
      })
    }
    if (image.announceTimer === undefined) {
      image.announceTimer = setTimeout(() => this.announceToAll(image), HAVE_UPDATE_INTERVAL_MS)
    }
  }

  private announceToAll(image: Image): void {
    if (image.announceTimer) clearTimeout(image.announceTimer)
    image.announceTimer = undefined
    image.session.announce('all')
    this.drainSession(image)
  }

  /** Sends what the session decided, and arms its one timer. */
  private drainSession(image: Image): void {
    const session = image.session
    for (let out = session.poll(); out; out = session.poll()) this.carryOut(image, out)
    if (image.timer) clearTimeout(image.timer)
    image.timer = undefined
    const at = session.nextTimeout()
    if (at === undefined) return
    image.timer = setTimeout(
      () => {
        image.timer = undefined
        if (image.session !== session) return
        session.handleTick(Math.max(this.clock.now(), at))
        this.drainSession(image)
      },
      Math.max(0, at - this.clock.now()),
    )
  }

  private carryOut(image: Image, out: SessionOutput): void {
    const manifest = image.cid
    switch (out.type) {
      case 'have':
        void this.send(out.peer, { type: 'have', manifest, bitfield: out.bitfield })
        return
      case 'have-update':
        void this.send(out.peer, { type: 'have-update', manifest, chunks: out.chunks })
        return
      case 'request':
        void this.send(out.peer, { type: 'request', manifest, chunk: out.chunk })
        return
      case 'cancel':
        void this.send(out.peer, { type: 'cancel', manifest, chunk: out.chunk })
        return
      case 'not-found':
        void this.send(out.peer, { type: 'not-found', manifest, chunk: out.chunk, reason: out.reason })
        return
      case 'ban':
        image.download?.banned.set(out.peer, out.reason)
        this.log.warn(
          { peer: out.peer, reason: out.reason, manifest: image.key },
          'banned a neighbour for this image',
        )
        return
    }
  }

  async stop(): Promise<void> {
    for (const timer of this.retells.values()) clearTimeout(timer)
    this.retells.clear()
    for (const image of this.images.values()) {
      this.stopDownload(image, { ok: false, reason: 'the node is stopping' })
      if (image.timer) clearTimeout(image.timer)
      if (image.announceTimer) clearTimeout(image.announceTimer)
      await image.store.close()
    }
    this.links.stop()
  }
}
