/**
 * The chunker's file side: reads an image from disk in constant memory (two chunk-sized
 * buffers, the next read overlapping the hashing of the current chunk) and feeds the pure
 * `ManifestBuilder`. The result is what a publisher puts into a release record: the manifest,
 * its canonical encoding and its CID.
 */
import { type FileHandle, open } from 'node:fs/promises'
import type { CID } from '../../codec/cid.js'
import { err, ok, type Result } from '../../codec/result.js'
import { CHUNK_BYTES_DEFAULT } from '../../constants.js'
import {
  chunkingFault,
  DEFAULT_MANIFEST_LIMITS,
  encodeManifest,
  type Manifest,
  ManifestBuilder,
  type ManifestLimits,
  manifestCid,
} from '../../transfer/manifest.js'
import { readBlocks } from './file-reads.js'

export interface ChunkedImage {
  readonly manifest: Manifest
  /** The manifest's canonical DAG-CBOR encoding, as served to peers. */
  readonly encoded: Uint8Array
  /** The manifest's CID, for the release record. */
  readonly cid: CID
}

export type ChunkerError =
  | { readonly code: 'io'; readonly message: string }
  | { readonly code: 'empty-image'; readonly message: string }
  | { readonly code: 'too-large'; readonly message: string }
  | { readonly code: 'too-many-chunks'; readonly message: string }
  | { readonly code: 'bad-chunk-size'; readonly message: string }
  | { readonly code: 'changed-while-reading'; readonly message: string }

/** Cuts the image file at `path` into chunks and builds its manifest. */
export async function chunkImageFile(
  path: string,
  options: {
    chunkSize?: number
    limits?: ManifestLimits
    /** Called after each chunk with the bytes read so far and the image size (for progress bars). */
    onProgress?: (bytesRead: number, imageSize: number) => void
  } = {},
): Promise<Result<ChunkedImage, ChunkerError>> {
  const chunkSize = options.chunkSize ?? CHUNK_BYTES_DEFAULT
  const limits = options.limits ?? DEFAULT_MANIFEST_LIMITS
  // The chunk size first: a bad one is refused before the file is opened.
  const badSize = chunkingFault(1, chunkSize, limits)
  if (badSize) return err(badSize)
  let fh: FileHandle | undefined
  try {
    fh = await open(path, 'r')
    const size = (await fh.stat()).size
    const fault = chunkingFault(size, chunkSize, limits)
    if (fault) return err(fault.code === 'empty-image' ? { ...fault, message: `${path} is empty` } : fault)
    const builder = new ManifestBuilder(chunkSize, limits)
    let read = 0
    const complete = await readBlocks(fh, size, chunkSize, (chunk) => {
      builder.add(chunk)
      read += chunk.byteLength
      options.onProgress?.(read, size)
    })
    if (!complete) return err({ code: 'changed-while-reading', message: `${path} shrank while it was read` })
    // One byte past the end tells whether the file grew while it was read.
    if ((await fh.read(new Uint8Array(1), 0, 1, size)).bytesRead !== 0) {
      return err({ code: 'changed-while-reading', message: `${path} grew while it was read` })
    }
    const manifest = builder.finish()
    const encoded = encodeManifest(manifest)
    return ok({ manifest, encoded, cid: manifestCid(manifest) })
  } catch (cause) {
    return err({ code: 'io', message: cause instanceof Error ? cause.message : String(cause) })
  } finally {
    await fh?.close().catch(() => undefined)
  }
}
