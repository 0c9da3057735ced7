import { open, unlink } from 'node:fs/promises'
import { bytesEqual, toHex } from '../codec/bytes.js'
import { type CID, cidToString } from '../codec/cid.js'
import { err, ok, type Result } from '../codec/result.js'
import {
  chunkingFault,
  DEFAULT_MANIFEST_LIMITS,
  encodeManifest,
  ManifestBuilder,
  type ManifestLimits,
  manifestCid,
} from '../transfer/manifest.js'
import type { ChunkedImage } from './store/image-chunker.js'

/**
 * An image arriving as a byte stream (the body of a publish request), written to a file and
 * cut into chunks as it comes, then checked against what its release transaction says: the
 * node never reads an image from a path a client names, and never keeps bytes that are not
 * the release's image.
 */

/** What the release transaction commits of its image. */
export interface ExpectedImage {
  readonly manifest: CID
  readonly imageSize: number
  readonly chunkSize: number
  readonly imageSha256: Uint8Array
}

export type ImportError =
  /** The release's chunking is outside what a device accepts (transfer/manifest.ts). */
  | { readonly code: 'bad-chunking'; readonly message: string }
  /** More bytes than the release's imageSize. */
  | { readonly code: 'too-large'; readonly message: string }
  /** The stream ended before imageSize bytes. */
  | { readonly code: 'truncated'; readonly message: string }
  /** The bytes are not the release's image. */
  | { readonly code: 'mismatch'; readonly message: string }
  | { readonly code: 'io'; readonly message: string }

/**
 * Streams `source` into a new file at `path` (mode 0600), cutting it into chunks of the
 * expected size and hashing each as it arrives, in memory of one chunk. Stops reading at the
 * first byte past `imageSize`. Keeps the file (fsync'd) only when its manifest's CID, size and
 * SHA-256 are the expected ones; otherwise deletes it.
 */
export async function importImage(
  source: AsyncIterable<Uint8Array>,
  path: string,
  expected: ExpectedImage,
  limits: ManifestLimits = DEFAULT_MANIFEST_LIMITS,
): Promise<Result<ChunkedImage, ImportError>> {
  const { imageSize, chunkSize } = expected
  const fault = chunkingFault(imageSize, chunkSize, limits)
  if (fault) return err({ code: 'bad-chunking', message: fault.message })
  const fh = await open(path, 'w', 0o600).catch((cause: Error) => cause)
  if (fh instanceof Error) return err({ code: 'io', message: `cannot write ${path}: ${fh.message}` })
  let kept = false
  try {
    const builder = new ManifestBuilder(chunkSize, limits)
    const chunk = new Uint8Array(chunkSize)
    let filled = 0
    let received = 0
    const flush = async () => {
      builder.add(chunk.subarray(0, filled))
      let written = 0
      while (written < filled) {
        const r = await fh.write(chunk, written, filled - written, received - filled + written)
        written += r.bytesWritten
      }
      filled = 0
    }
    for await (const piece of source) {
      if (received + piece.byteLength > imageSize)
        return err({
          code: 'too-large',
          message: `the image is longer than the release's ${imageSize} bytes`,
        })
      let offset = 0
      while (offset < piece.byteLength) {
        const take = Math.min(chunkSize - filled, piece.byteLength - offset)
        chunk.set(piece.subarray(offset, offset + take), filled)
        filled += take
        offset += take
        received += take
        if (filled === chunkSize) await flush()
      }
    }
    if (received < imageSize)
      return err({
        code: 'truncated',
        message: `the image ended after ${received} of the release's ${imageSize} bytes`,
      })
    if (filled > 0) await flush()
    const manifest = builder.finish()
    const encoded = encodeManifest(manifest)
    const cid = manifestCid(manifest)
    if (!bytesEqual(manifest.imageSha256, expected.imageSha256))
      return err({
        code: 'mismatch',
        message: `the image's SHA-256 is ${toHex(manifest.imageSha256)}, not the release's ${toHex(expected.imageSha256)}`,
      })
    if (!cid.equals(expected.manifest))
      return err({
        code: 'mismatch',
        message: `the image cut into chunks of ${chunkSize} bytes has manifest ${cidToString(cid)}, not the release's ${cidToString(expected.manifest)}`,
      })
    await fh.sync()
    kept = true
    return ok({ manifest, encoded, cid })
  } catch (cause) {
    return err({ code: 'io', message: `importing the image failed: ${(cause as Error).message}` })
  } finally {
    await fh.close().catch(() => {})
    if (!kept) await unlink(path).catch(() => {})
  }
}
