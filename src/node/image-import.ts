import { open, unlink } from 'node:fs/promises'
import { bytesEqual, toHex } from '../codec/bytes.js'
import { type CID, cidOfEncoded, cidToString } from '../codec/cid.js'
import { err, ok, type Result } from '../codec/result.js'
import {
  chunkCountOf,
  DEFAULT_MANIFEST_LIMITS,
  encodeManifest,
  type Manifest,
  ManifestBuilder,
  type ManifestLimits,
} from '../transfer/manifest.js'

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
  /** The release's chunking is outside what a device accepts (the chunk count). */
  | { readonly code: 'bad-chunking'; readonly message: string }
  /** More bytes than the release's imageSize. */
  | { readonly code: 'too-large'; readonly message: string }
  /** The stream ended before imageSize bytes. */
  | { readonly code: 'truncated'; readonly message: string }
  /** The bytes are not the release's image. */
  | { readonly code: 'mismatch'; readonly message: string }
  | { readonly code: 'io'; readonly message: string }

export interface ImportedImage {
  readonly manifest: Manifest
  readonly encoded: Uint8Array
  readonly cid: CID
}

/** Checks a release's chunking before a byte is read: a device refuses what the limits refuse. */
export function checkChunking(
  expected: Pick<ExpectedImage, 'imageSize' | 'chunkSize'>,
  limits: ManifestLimits = DEFAULT_MANIFEST_LIMITS,
): ImportError | undefined {
  const { imageSize, chunkSize } = expected
  if (
    !Number.isSafeInteger(chunkSize) ||
    chunkSize < limits.chunkBytesMin ||
    chunkSize > limits.chunkBytesMax
  )
    return {
      code: 'bad-chunking',
      message: `chunk size ${chunkSize} is outside ${limits.chunkBytesMin}..${limits.chunkBytesMax} bytes`,
    }
  if (!Number.isSafeInteger(imageSize) || imageSize < 1 || imageSize > limits.imageBytesMax)
    return {
      code: 'bad-chunking',
      message: `image size ${imageSize} is outside 1..${limits.imageBytesMax} bytes`,
    }
  const count = chunkCountOf(imageSize, chunkSize)
  if (count > limits.chunksMax)
    return {
      code: 'bad-chunking',
      message: `${imageSize} bytes in chunks of ${chunkSize} is ${count} chunks, over the manifest limit of ${limits.chunksMax}; use chunks of at least ${Math.ceil(imageSize / limits.chunksMax)} bytes`,
    }
  return undefined
}

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
): Promise<Result<ImportedImage, ImportError>> {
  const chunking = checkChunking(expected, limits)
  if (chunking) return err(chunking)
  const { imageSize, chunkSize } = expected
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
    const cid = cidOfEncoded(encoded)
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
