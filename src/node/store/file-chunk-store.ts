/**
 * The chunk store on disk: the file a download writes into, the node's implementation of the
 * transfer module's `ChunkStore` interface (src/transfer/chunk-store.ts).
 *
 * - `open` preallocates the image file at its final size and loads the held set: from the
 *   held-state file when it is valid for this manifest, otherwise by re-verifying every chunk
 *   already in the image file (a crash before the first record, a damaged record, or a
 *   publisher opening its own image to seed it).
 * - `writeChunk` verifies a chunk against the manifest and writes it at its offset. It becomes
 *   *held* only once durable: the store groups writes, and every STORE_FLUSH_BYTES (or on
 *   `flush()`, or when the last chunk is in) it fdatasyncs the image, then atomically replaces
 *   the held-state file. A crash loses at most the chunks written since the last flush; a chunk
 *   once held is never fetched again.
 * - `readChunk` serves a held chunk by reading at its offset. A chunk this process has not
 *   verified itself (one held from an earlier run, per the held-state file) is re-verified on
 *   its first read, so a disk that rotted while the node was down never makes it serve bad
 *   chunks (a bad one is dropped from the held set). Chunks it verified, when they arrived or
 *   by a rescan, are trusted: hashing each chunk again on every upload cost as much as the
 *   receiving side's check, and the neighbour checks it anyway.
 * - `verifyImage` hashes the whole file in constant memory against the manifest.
 *
 * Errors of the world (a bad chunk, a full disk) are typed results; I/O failures carry `io`.
 */
import { type FileHandle, open, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { assert } from '../../codec/assert.js'
import { bytesEqual } from '../../codec/bytes.js'
import { err, ok, type Result } from '../../codec/result.js'
import { HELD_STATE_BYTES_MAX, STORE_FLUSH_BYTES } from '../../constants.js'
import { bitfieldBytes, clearBit, countBits, getBit, setBit } from '../../transfer/bitfield.js'
import type {
  ChunkRejection,
  ChunkStore,
  ReadRejection,
  ResumedFrom,
  StoreIoError,
  VerifyFailure,
  WriteOutcome,
} from '../../transfer/chunk-store.js'
import {
  decodeHeldState,
  encodeHeldSlot,
  encodeHeldState,
  type HeldState,
} from '../../transfer/held-state.js'
import {
  chunkCount,
  chunkLength,
  chunkOffset,
  type Manifest,
  manifestCid,
  verifyChunk,
} from '../../transfer/manifest.js'
import { hashFile, readBlocks, readFully } from './file-reads.js'

export interface FileChunkStoreOptions {
  /** The image file; created if missing, resumed if present. */
  readonly imagePath: string
  /** The held-state file; defaults to `<imagePath>.held`. */
  readonly statePath?: string
  readonly manifest: Manifest
  /** Verified bytes written before the store makes them durable on its own. */
  readonly flushBytes?: number
  /** Re-verify chunks read for serving (default true). */
  readonly verifyOnRead?: boolean
}

function ioError(cause: unknown): StoreIoError {
  const message = cause instanceof Error ? cause.message : String(cause)
  const errno = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined
  return errno === 'ENOSPC' || errno === 'EDQUOT'
    ? { code: 'io', message, noSpace: true }
    : { code: 'io', message }
}

function isNotFound(cause: unknown): boolean {
  return typeof cause === 'object' && cause !== null && (cause as { code?: unknown }).code === 'ENOENT'
}

async function writeFully(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0
  while (done < data.byteLength) {
    const { bytesWritten } = await fh.write(data, done, data.byteLength - done, position + done)
    done += bytesWritten
  }
}

/** Makes a rename durable. Some platforms cannot fsync a directory; there the rename stands as is. */
async function syncDirectory(path: string): Promise<void> {
  let dir: FileHandle | undefined
  try {
    dir = await open(path, 'r')
    await dir.sync()
  } catch (cause) {
    const code = (cause as { code?: unknown }).code
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM') throw cause
  } finally {
    await dir?.close()
  }
}

export class FileChunkStore implements ChunkStore {
  readonly chunkCount: number
  private readonly cidBytes: Uint8Array
  private readonly flushBytes: number
  private readonly verifyOnRead: boolean
  /** Being written now. */
  private readonly writing = new Set<number>()
  /** Written and verified, not yet held: waiting for a flush or in the running one. */
  private readonly unsynced = new Set<number>()
  private unsyncedBytes = 0
  /** The part of `unsynced` no flush has taken yet. */
  private batch: number[] = []
  private batchBytes = 0
  /** Chunks that became held and were not yet reported by `writeChunk` or `flush`. */
  private newlyHeld: number[] = []
  /** A failure of a flush nobody awaited, reported by the next call. */
  private failure: StoreIoError | undefined
  private flushChain: Promise<unknown> = Promise.resolve()
  private queuedFlush: Promise<Result<void, StoreIoError>> | undefined
  private closed = false
  /** Directories whose new entries (a new store's files) the first flush makes durable. */
  private directoriesUnsynced: string[] = []
  /** Chunks whose bytes on disk this process has checked against the manifest. */
  private readonly trusted: Uint8Array

  private constructor(
    readonly manifest: Manifest,
    private readonly fh: FileHandle,
    private readonly stateFh: FileHandle,
    private generation: number,
    private readonly held: Uint8Array,
    private heldChunks: number,
    readonly resumedFrom: ResumedFrom,
    options: FileChunkStoreOptions,
  ) {
    this.chunkCount = chunkCount(manifest)
    this.cidBytes = manifestCid(manifest).bytes
    this.flushBytes = options.flushBytes ?? STORE_FLUSH_BYTES
    this.verifyOnRead = options.verifyOnRead ?? true
    // A rescan has just hashed every held chunk; a held-state file only says an earlier run did.
    this.trusted = resumedFrom === 'rescan' ? new Uint8Array(held) : new Uint8Array(held.byteLength)
  }

  /** Opens (or creates) the image file for a manifest and loads what is already held. */
  static async open(options: FileChunkStoreOptions): Promise<Result<FileChunkStore, StoreIoError>> {
    const { manifest, imagePath } = options
    const statePath = options.statePath ?? `${imagePath}.held`
    const count = chunkCount(manifest)
    const cidBytes = manifestCid(manifest).bytes
    let fh: FileHandle | undefined
    let stateFh: FileHandle | undefined
    const directoriesUnsynced: string[] = []
    try {
      let existed = true
      try {
        fh = await open(imagePath, 'r+')
      } catch (cause) {
        if (!isNotFound(cause)) throw cause
        fh = await open(imagePath, 'w+')
        existed = false
      }
      const size = (await fh.stat()).size
      // Node has no posix_fallocate: truncate sets the final size (sparse), and a full disk
      // shows up as an `io` error on a write instead of at open.
      if (size !== manifest.imageSize) await fh.truncate(manifest.imageSize)
      let state: HeldState | undefined
      if (existed && size === manifest.imageSize) {
        const bytes = await FileChunkStore.readState(statePath)
        const decoded = bytes ? decodeHeldState(bytes, cidBytes, count) : undefined
        if (decoded?.ok) state = decoded.value
      }
      const resumedFrom: ResumedFrom = state ? 'state' : existed ? 'rescan' : 'new'
      if (state) {
        stateFh = await open(statePath, 'r+')
      } else {
        const bitfield = existed
          ? await FileChunkStore.rescan(fh, manifest)
          : new Uint8Array(bitfieldBytes(count))
        stateFh = await open(statePath, 'w+')
        await writeFully(stateFh, encodeHeldState(cidBytes, count, bitfield), 0)
        if (existed) {
          // Chunks found by a rescan may still sit in the page cache only: durable first, then held.
          await fh.datasync()
          await stateFh.datasync()
          await syncDirectory(dirname(statePath))
          if (dirname(statePath) !== dirname(imagePath)) await syncDirectory(dirname(imagePath))
        } else {
          // A new store holds nothing, so nothing needs to be durable before its first flush: a
          // crash before it leaves no file, or an empty one, or a state that does not decode, and
          // every case reopens as an empty store. The first flush makes both files durable. This
          // takes three fsyncs off every download's start, which cost 0.4-0.6 s each while 20
          // nodes on one machine write (measured in the fidelity run, `npm run sim:fidelity`).
          directoriesUnsynced.push(dirname(statePath))
          if (dirname(statePath) !== dirname(imagePath)) directoriesUnsynced.push(dirname(imagePath))
        }
        state = { bitfield, generation: 0 }
      }
      const held = state.bitfield
      const store = new FileChunkStore(
        manifest,
        fh,
        stateFh,
        state.generation,
        held,
        countBits(held),
        resumedFrom,
        options,
      )
      store.directoriesUnsynced = directoriesUnsynced
      return ok(store)
    } catch (cause) {
      await fh?.close().catch(() => undefined)
      await stateFh?.close().catch(() => undefined)
      return err(ioError(cause))
    }
  }

  private static async readState(statePath: string): Promise<Uint8Array | undefined> {
    try {
      const fh = await open(statePath, 'r')
      try {
        const size = (await fh.stat()).size
        if (size > HELD_STATE_BYTES_MAX) return undefined
        return new Uint8Array(await readFile(fh))
      } finally {
        await fh.close()
      }
    } catch (cause) {
      if (isNotFound(cause)) return undefined
      throw cause
    }
  }

  /** Hashes every chunk of the file against the manifest; the ones that match are held. */
  private static async rescan(fh: FileHandle, manifest: Manifest): Promise<Uint8Array> {
    const held = new Uint8Array(bitfieldBytes(chunkCount(manifest)))
    // A file shorter than the image (it was just extended) leaves the missing chunks unheld.
    await readBlocks(fh, manifest.imageSize, manifest.chunkSize, (block, offset) => {
      const i = offset / manifest.chunkSize
      if (verifyChunk(manifest, i, block) === 'ok') setBit(held, i)
    })
    return held
  }

  has(index: number): boolean {
    return Number.isSafeInteger(index) && index >= 0 && index < this.chunkCount && getBit(this.held, index)
  }

  get chunksHeld(): number {
    return this.heldChunks
  }

  /** Chunks verified and written, durable or not yet: what the node already serves and announces. */
  get chunksWritten(): number {
    return this.heldChunks + this.unsynced.size
  }

  isComplete(): boolean {
    return this.heldChunks === this.chunkCount
  }

  /** A copy of the held set (bitfield.ts layout), for a have message or the scheduler. */
  heldBitfield(): Uint8Array {
    return new Uint8Array(this.held)
  }

  /**
   * Verifies a chunk and writes it at its offset. It becomes held once the store next makes its
   * writes durable: a flush starts in the background whenever STORE_FLUSH_BYTES are waiting; a
   * write waits for it only when twice that is not yet durable (so a crash loses at most that
   * much), or when it completes the image. `held` lists the chunks that became held since the
   * previous `writeChunk` or `flush` reported any: the node announces them in a have-update.
   */
  async writeChunk(
    index: number,
    data: Uint8Array,
    options: {
      /** The caller has just checked these bytes with `verifyChunk` against this store's manifest. */
      readonly verified?: boolean
    } = {},
  ): Promise<Result<WriteOutcome, ChunkRejection>> {
    assert(!this.closed, 'the store is open')
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.chunkCount) {
      return err({ code: 'out-of-range', message: `chunk ${index} of ${this.chunkCount}` })
    }
    const verdict = options.verified === true ? 'ok' : verifyChunk(this.manifest, index, data)
    if (verdict !== 'ok') return err({ code: verdict, message: `chunk ${index}: ${verdict}` })
    const failed = this.takeFailure()
    if (failed) return err(failed)
    if (getBit(this.held, index) || this.unsynced.has(index) || this.writing.has(index)) {
      return ok({ written: false, held: this.takeHeld() })
    }
    this.writing.add(index)
    try {
      await writeFully(this.fh, data, chunkOffset(this.manifest, index))
    } catch (cause) {
      return err(ioError(cause))
    } finally {
      this.writing.delete(index)
    }
    setBit(this.trusted, index)
    this.unsynced.add(index)
    this.unsyncedBytes += data.byteLength
    this.batch.push(index)
    this.batchBytes += data.byteLength
    const complete = this.heldChunks + this.unsynced.size === this.chunkCount
    if (complete || this.unsyncedBytes >= 2 * this.flushBytes) {
      const r = this.settle(await this.scheduleFlush())
      if (!r.ok) return r
    } else if (this.batchBytes >= this.flushBytes) {
      void this.scheduleFlush()
    }
    return ok({ written: true, held: this.takeHeld() })
  }

  /**
   * Makes every chunk written so far durable (fdatasync of the image) and records them held
   * (the held-state file, one fdatasync). Returns the chunks that became held since they were
   * last reported, in increasing order. Flushes run one at a time.
   */
  async flush(): Promise<Result<number[], StoreIoError>> {
    const r = this.settle(await this.scheduleFlush())
    if (!r.ok) return r
    const failed = this.takeFailure()
    if (failed) return err(failed)
    return ok(this.takeHeld())
  }

  /** Queues a flush after the running one, unless one is already queued (it will take the new chunks too). */
  private scheduleFlush(): Promise<Result<void, StoreIoError>> {
    if (this.queuedFlush) return this.queuedFlush
    const run = this.flushChain.then(() => {
      this.queuedFlush = undefined
      return this.flushNow()
    })
    this.queuedFlush = run
    this.flushChain = run
    return run
  }

  private async flushNow(): Promise<Result<void, StoreIoError>> {
    if (this.batch.length === 0) return ok(undefined)
    const batch = this.batch
    const bytes = this.batchBytes
    this.batch = []
    this.batchBytes = 0
    const next = new Uint8Array(this.held)
    for (const i of batch) setBit(next, i)
    try {
      await this.fh.datasync()
      await this.writeState(next)
      for (const dir of this.directoriesUnsynced) await syncDirectory(dir)
      this.directoriesUnsynced = []
    } catch (cause) {
      this.batch.push(...batch)
      this.batchBytes += bytes
      this.failure = ioError(cause)
      return err(this.failure)
    }
    for (const i of batch) {
      setBit(this.held, i)
      this.unsynced.delete(i)
    }
    this.unsyncedBytes -= bytes
    this.heldChunks += batch.length
    this.newlyHeld.push(...batch)
    return ok(undefined)
  }

  private takeHeld(): number[] {
    const held = this.newlyHeld.sort((a, b) => a - b)
    this.newlyHeld = []
    return held
  }

  /** A flush result someone awaited: its failure is reported here, not again by the next call. */
  private settle(r: Result<void, StoreIoError>): Result<void, StoreIoError> {
    if (!r.ok && this.failure === r.error) this.failure = undefined
    return r
  }

  private takeFailure(): StoreIoError | undefined {
    const failure = this.failure
    this.failure = undefined
    return failure
  }

  /** Writes the next generation of the held set into the older slot of the state file. */
  private async writeState(bitfield: Uint8Array): Promise<void> {
    const generation = this.generation + 1
    const slot = encodeHeldSlot(this.cidBytes, this.chunkCount, bitfield, generation)
    await writeFully(this.stateFh, slot, (generation % 2) * slot.byteLength)
    await this.stateFh.datasync()
    this.generation = generation
  }

  /**
   * True when a chunk can be served to a peer: held, or written and verified but not yet
   * durable. Serving needs no durability (the peer checks the hash; only this store's resume
   * depends on the flush), and announcing chunks at once, not at the next flush, is what lets
   * neighbours fetch from each other instead of from the origin during a short rollout.
   */
  canServe(index: number): boolean {
    return (
      Number.isSafeInteger(index) &&
      index >= 0 &&
      index < this.chunkCount &&
      (getBit(this.held, index) || this.unsynced.has(index))
    )
  }

  /**
   * Reads a servable chunk for a peer; one this process has not verified is checked first
   * (unless `verifyOnRead` is off), and trusted from then on.
   */
  async readChunk(index: number): Promise<Result<Uint8Array, ReadRejection>> {
    assert(!this.closed, 'the store is open')
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.chunkCount) {
      return err({ code: 'out-of-range', message: `chunk ${index} of ${this.chunkCount}` })
    }
    if (!this.canServe(index)) return err({ code: 'not-held', message: `chunk ${index} is not held` })
    const length = chunkLength(this.manifest, index)
    // Not zero-filled: handed out only once a read has filled every byte.
    const data: Uint8Array = Buffer.allocUnsafe(length)
    if (!getBit(this.held, index)) {
      // Written (and verified) by this process but not durable yet; a short read is a fault.
      try {
        const got = await readFully(this.fh, data, length, chunkOffset(this.manifest, index))
        if (got === length) return ok(data)
      } catch (cause) {
        return err(ioError(cause))
      }
      return err({ code: 'corrupt', message: `chunk ${index} does not match its hash yet` })
    }
    try {
      const got = await readFully(this.fh, data, length, chunkOffset(this.manifest, index))
      const trusted = getBit(this.trusted, index) || !this.verifyOnRead
      if (got === length && (trusted || verifyChunk(this.manifest, index, data) === 'ok')) {
        setBit(this.trusted, index)
        return ok(data)
      }
      await this.drop([index])
    } catch (cause) {
      return err(ioError(cause))
    }
    return err({ code: 'corrupt', message: `chunk ${index} no longer matches its hash; dropped` })
  }

  /**
   * Hashes the whole image in constant memory (two chunk-sized buffers, the next read overlapping
   * the hashing of the current one) and compares it with the manifest.
   */
  async verifyImage(): Promise<Result<void, VerifyFailure>> {
    assert(!this.closed, 'the store is open')
    if (!this.isComplete()) {
      return err({ code: 'incomplete', message: `${this.heldChunks} of ${this.chunkCount} chunks held` })
    }
    try {
      const digest = await hashFile(this.fh, this.manifest.imageSize, this.manifest.chunkSize)
      if (bytesEqual(digest, this.manifest.imageSha256)) return ok(undefined)
      const held = await FileChunkStore.rescan(this.fh, this.manifest)
      const bad: number[] = []
      for (let i = 0; i < this.chunkCount; i++) if (!getBit(held, i)) bad.push(i)
      if (bad.length === 0) {
        return err({ code: 'manifest-inconsistent', message: 'every chunk matches, the image hash does not' })
      }
      await this.drop(bad)
      return err({
        code: 'image-hash-mismatch',
        message: `${bad.length} chunks no longer verify`,
        badChunks: bad,
      })
    } catch (cause) {
      return err(ioError(cause))
    }
  }

  /** Flushes what is written (unless told not to) and closes the files. */
  async close(options: { flush?: boolean } = {}): Promise<Result<void, StoreIoError>> {
    if (this.closed) return ok(undefined)
    const flushed = options.flush === false ? ok(undefined) : this.settle(await this.scheduleFlush())
    await this.flushChain
    this.closed = true
    try {
      await this.fh.close()
      await this.stateFh.close()
    } catch (cause) {
      return err(ioError(cause))
    }
    return flushed
  }

  /** Takes chunks out of the held set, on disk first. */
  private async drop(chunks: readonly number[]): Promise<void> {
    const run = this.flushChain.then(async () => {
      const next = new Uint8Array(this.held)
      for (const i of chunks) clearBit(next, i)
      await this.writeState(next)
      for (const i of chunks) {
        clearBit(this.trusted, i)
        if (getBit(this.held, i)) {
          clearBit(this.held, i)
          this.heldChunks--
        }
      }
    })
    this.flushChain = run.catch(() => undefined)
    await run
  }
}
