/**
 * What a driver of the transfer session needs of the store a download writes into, as an
 * interface: the transfer module stays pure (no `fs`) and the file implementation lives with
 * the other I/O, in `src/node/store/file-chunk-store.ts`. A store verifies every chunk against
 * the manifest before it writes it, counts a chunk *held* only once it is durable (so a
 * restart resumes and never fetches a held chunk again), and verifies the whole image at the
 * end. Errors of the world (a bad chunk, a full disk) are typed results.
 */
import type { Result } from '../codec/result.js'
import type { ChunkVerdict, Manifest } from './manifest.js'

export type StoreIoError = {
  readonly code: 'io'
  readonly message: string
  /** A full disk (ENOSPC, or EDQUOT for a quota): the download stops instead of retrying the chunk. */
  readonly noSpace?: true
}

export type ChunkRejection =
  | { readonly code: 'out-of-range'; readonly message: string }
  | { readonly code: Exclude<ChunkVerdict, 'ok'>; readonly message: string }
  | StoreIoError

export type ReadRejection =
  | { readonly code: 'out-of-range'; readonly message: string }
  | { readonly code: 'not-held'; readonly message: string }
  | { readonly code: 'corrupt'; readonly message: string }
  | StoreIoError

export type VerifyFailure =
  | { readonly code: 'incomplete'; readonly message: string }
  /** The image did not hash right; the chunks that did not either are no longer held. */
  | { readonly code: 'image-hash-mismatch'; readonly message: string; readonly badChunks: readonly number[] }
  /** Every chunk matches the manifest, yet the image does not match its hash: a bad manifest. */
  | { readonly code: 'manifest-inconsistent'; readonly message: string }
  | StoreIoError

/** How a store learnt the held set when it opened. */
export type ResumedFrom = 'new' | 'state' | 'rescan'

export interface WriteOutcome {
  /** False when the chunk was already held or being written (nothing was written). */
  readonly written: boolean
  /** Chunks that became held during this call, to announce in a have-update. */
  readonly held: readonly number[]
}

export interface ChunkStore {
  readonly manifest: Manifest
  readonly chunkCount: number
  readonly resumedFrom: ResumedFrom
  /** Chunks held (durable). */
  readonly chunksHeld: number
  /** Chunks verified and written, durable or not yet: what the node already serves and announces. */
  readonly chunksWritten: number
  has(index: number): boolean
  isComplete(): boolean
  /** A copy of the held set (bitfield.ts layout), for a have message or the scheduler. */
  heldBitfield(): Uint8Array
  /**
   * Verifies a chunk (unless the caller has just checked these bytes against this store's
   * manifest: `verified`) and writes it at its offset; it becomes held once durable.
   */
  writeChunk(
    index: number,
    data: Uint8Array,
    options?: { readonly verified?: boolean },
  ): Promise<Result<WriteOutcome, ChunkRejection>>
  /** Makes every chunk written so far durable; returns the chunks that became held since last told. */
  flush(): Promise<Result<number[], StoreIoError>>
  /** True when a chunk can be served to a peer: held, or written and verified but not yet durable. */
  canServe(index: number): boolean
  /** Reads a servable chunk for a peer. */
  readChunk(index: number): Promise<Result<Uint8Array, ReadRejection>>
  /** Hashes the whole image against the manifest; chunks that no longer verify are dropped. */
  verifyImage(): Promise<Result<void, VerifyFailure>>
  /** Flushes what is written (unless told not to) and closes the store. */
  close(options?: { flush?: boolean }): Promise<Result<void, StoreIoError>>
}
