/**
 * The manifest of a firmware image: its size, the chunk size, the SHA-256 of every chunk and of
 * the whole image. It is a DAG-CBOR record, a header (src/ledger/manifest-id.ts) and the chunk
 * hashes the header commits by their SHA-256. Its id, the CID of the header, goes into the
 * release record next to `imageSize`, `imageSha256` and `chunkSize` (the same names here), and
 * the ledger refuses a release whose id is not the one those fields make. A device that trusts
 * the ledger checks any manifest it is handed against the id (header, then chunk list), then
 * any chunk against the manifest.
 *
 * Pure: hashing goes through src/codec (node:crypto); files are read in src/node/store/.
 */
import { assert } from '../codec/assert.js'
import { bytesEqual } from '../codec/bytes.js'
import { type DecodeError, decodeCbor, encodeCbor } from '../codec/cbor.js'
import { type CID, cidToString } from '../codec/cid.js'
import { sha256, sha256Stream } from '../codec/hash.js'
import { err, ok, type Result } from '../codec/result.js'
import { bytes, literal, struct, uint } from '../codec/schema.js'
import {
  CHUNK_BYTES_MAX,
  CHUNK_BYTES_MIN,
  IMAGE_BYTES_MAX,
  MANIFEST_BYTES_MAX,
  MANIFEST_CHUNKS_MAX,
} from '../constants.js'
import {
  chunkHashesDigest,
  MANIFEST_TYPE,
  MANIFEST_VERSION,
  type ManifestHeader,
  manifestIdOf,
} from '../ledger/manifest-id.js'

export const SHA256_BYTES = 32

/**
 * What peers exchange: the header whose CID a release commits, and `chunkHashes`, the chunks'
 * SHA-256 digests concatenated, whose SHA-256 is the header's `chunkHashesSha256`.
 */
export interface Manifest extends ManifestHeader {
  readonly chunkHashes: Uint8Array
}

/** The bounds a manifest is decoded against; the defaults come from src/constants.ts. */
export interface ManifestLimits {
  readonly imageBytesMax: number
  readonly chunkBytesMin: number
  readonly chunkBytesMax: number
  readonly chunksMax: number
}

export const DEFAULT_MANIFEST_LIMITS: ManifestLimits = {
  imageBytesMax: IMAGE_BYTES_MAX,
  chunkBytesMin: CHUNK_BYTES_MIN,
  chunkBytesMax: CHUNK_BYTES_MAX,
  chunksMax: MANIFEST_CHUNKS_MAX,
}

/** Why a manifest (from a peer or a file) is refused: a decoding fault or a broken rule. */
export type ManifestError =
  | DecodeError
  | { readonly code: 'too-many-chunks'; readonly path: string; readonly message: string }
  | { readonly code: 'chunk-count-mismatch'; readonly path: string; readonly message: string }
  /** The chunk list is not the one the header commits. */
  | { readonly code: 'chunk-hashes-mismatch'; readonly path: string; readonly message: string }
  /** The header is not the one the release's manifest id names. */
  | { readonly code: 'cid-mismatch'; readonly path: string; readonly message: string }

/** The verdict on one chunk's bytes, the scheduler's input (it never hashes). */
export type ChunkVerdict = 'ok' | 'bad-hash' | 'truncated'

/** Chunks of an image of `imageSize` bytes cut every `chunkSize` bytes. */
export function chunkCountOf(imageSize: number, chunkSize: number): number {
  return Math.ceil(imageSize / chunkSize)
}

/** Why an image of this size cannot have a manifest at this chunk size. */
export interface ChunkingFault {
  readonly code: 'bad-chunk-size' | 'empty-image' | 'too-large' | 'too-many-chunks'
  readonly message: string
}

/**
 * Whether `imageSize` bytes cut every `chunkSize` bytes make a manifest within `limits` (what
 * every device decodes a manifest against): the fault, or undefined. The publisher's CLI, its
 * node and the chunker all ask this before reading a byte.
 */
export function chunkingFault(
  imageSize: number,
  chunkSize: number,
  limits: ManifestLimits = DEFAULT_MANIFEST_LIMITS,
): ChunkingFault | undefined {
  if (
    !Number.isSafeInteger(chunkSize) ||
    chunkSize < limits.chunkBytesMin ||
    chunkSize > limits.chunkBytesMax
  )
    return {
      code: 'bad-chunk-size',
      message: `chunk size ${chunkSize} is outside [${limits.chunkBytesMin}, ${limits.chunkBytesMax}]`,
    }
  if (imageSize === 0) return { code: 'empty-image', message: 'the image is empty' }
  if (!Number.isSafeInteger(imageSize) || imageSize < 0 || imageSize > limits.imageBytesMax)
    return { code: 'too-large', message: `${imageSize} bytes, over the limit of ${limits.imageBytesMax}` }
  const count = chunkCountOf(imageSize, chunkSize)
  if (count > limits.chunksMax) {
    const least = Math.max(limits.chunkBytesMin, Math.ceil(imageSize / limits.chunksMax))
    return {
      code: 'too-many-chunks',
      message: `${count} chunks of ${chunkSize} bytes, over the limit of ${limits.chunksMax}; use chunks of at least ${least} bytes`,
    }
  }
  return undefined
}

export function chunkCount(manifest: Manifest): number {
  return manifest.chunkHashes.byteLength / SHA256_BYTES
}

/** Byte offset of chunk `index` in the image. */
export function chunkOffset(manifest: Manifest, index: number): number {
  return index * manifest.chunkSize
}

/** Length of chunk `index`: the chunk size, except for a shorter last chunk. */
export function chunkLength(manifest: Manifest, index: number): number {
  assert(index >= 0 && index < chunkCount(manifest), 'chunk index within the manifest')
  return Math.min(manifest.chunkSize, manifest.imageSize - index * manifest.chunkSize)
}

/** The committed SHA-256 of chunk `index` (a view into the manifest, do not modify). */
export function chunkHash(manifest: Manifest, index: number): Uint8Array {
  return manifest.chunkHashes.subarray(index * SHA256_BYTES, (index + 1) * SHA256_BYTES)
}

/**
 * Checks a chunk's bytes against the manifest: `truncated` when shorter than the chunk,
 * `bad-hash` when longer, when the hash differs, or when the index is not in the manifest (no
 * committed hash can match it).
 */
export function verifyChunk(manifest: Manifest, index: number, chunk: Uint8Array): ChunkVerdict {
  if (!Number.isSafeInteger(index) || index < 0 || index >= chunkCount(manifest)) return 'bad-hash'
  const want = chunkLength(manifest, index)
  if (chunk.byteLength < want) return 'truncated'
  if (chunk.byteLength > want) return 'bad-hash'
  return bytesEqual(sha256(chunk), chunkHash(manifest, index)) ? 'ok' : 'bad-hash'
}

/**
 * Builds a manifest from an image's chunks in order, in constant memory apart from the 32-byte
 * hashes. The caller cuts the chunks (src/node/store/image-chunker.ts reads them from a file).
 */
export class ManifestBuilder {
  private readonly whole = sha256Stream()
  private readonly hashes: Uint8Array[] = []
  private size = 0
  private sawShortChunk = false

  constructor(
    readonly chunkSize: number,
    private readonly limits: ManifestLimits = DEFAULT_MANIFEST_LIMITS,
  ) {
    assert(Number.isSafeInteger(chunkSize), 'chunk size is an integer')
    assert(chunkSize >= limits.chunkBytesMin && chunkSize <= limits.chunkBytesMax, 'chunk size within limits')
  }

  /** Adds the next chunk: exactly `chunkSize` bytes, except the last, which may be shorter. */
  add(chunk: Uint8Array): void {
    assert(!this.sawShortChunk, 'only the last chunk is shorter than the chunk size')
    assert(chunk.byteLength > 0 && chunk.byteLength <= this.chunkSize, 'chunk length within (0, chunk size]')
    assert(this.hashes.length < this.limits.chunksMax, 'chunk count within the manifest limit')
    this.whole.update(chunk)
    this.hashes.push(sha256(chunk))
    this.size += chunk.byteLength
    if (chunk.byteLength < this.chunkSize) this.sawShortChunk = true
  }

  get chunksAdded(): number {
    return this.hashes.length
  }

  finish(): Manifest {
    assert(this.hashes.length > 0, 'an image has at least one chunk')
    const chunkHashes = new Uint8Array(this.hashes.length * SHA256_BYTES)
    this.hashes.forEach((h, i) => {
      chunkHashes.set(h, i * SHA256_BYTES)
    })
    return {
      type: MANIFEST_TYPE,
      version: MANIFEST_VERSION,
      imageSize: this.size,
      chunkSize: this.chunkSize,
      imageSha256: this.whole.digest(),
      chunkHashesSha256: chunkHashesDigest(chunkHashes),
      chunkHashes,
    }
  }
}

/** A manifest for bytes held in memory (tests, small images). */
export function manifestOfBytes(image: Uint8Array, chunkSize: number, limits?: ManifestLimits): Manifest {
  const builder = new ManifestBuilder(chunkSize, limits)
  for (let offset = 0; offset < image.byteLength; offset += chunkSize) {
    builder.add(image.subarray(offset, Math.min(offset + chunkSize, image.byteLength)))
  }
  return builder.finish()
}

/** The canonical DAG-CBOR encoding of a manifest, header and chunk list: what peers exchange. */
export function encodeManifest(manifest: Manifest): Uint8Array {
  return encodeCbor({
    type: manifest.type,
    version: manifest.version,
    imageSize: manifest.imageSize,
    chunkSize: manifest.chunkSize,
    imageSha256: manifest.imageSha256,
    chunkHashesSha256: manifest.chunkHashesSha256,
    chunkHashes: manifest.chunkHashes,
  })
}

/** The id a release commits: the CID of the manifest's header (src/ledger/manifest-id.ts). */
export function manifestCid(manifest: Manifest): CID {
  return manifestIdOf(manifest)
}

function manifestSchema(limits: ManifestLimits) {
  return struct({
    type: literal(MANIFEST_TYPE),
    version: uint(MANIFEST_VERSION, MANIFEST_VERSION),
    imageSize: uint(limits.imageBytesMax, 1),
    chunkSize: uint(limits.chunkBytesMax, limits.chunkBytesMin),
    imageSha256: bytes(SHA256_BYTES),
    chunkHashesSha256: bytes(SHA256_BYTES),
    chunkHashes: bytes({ min: SHA256_BYTES, max: limits.chunksMax * SHA256_BYTES }),
  })
}

/**
 * Decodes a manifest that came from a peer or a file. Refuses more than `MANIFEST_BYTES_MAX`
 * bytes before parsing, non-canonical encodings (one manifest, one encoding), sizes out of
 * bounds, a hash list whose length is not `ceil(imageSize / chunkSize)` hashes, and a hash list
 * whose SHA-256 is not the header's `chunkHashesSha256`. With `expectedCid` (the release's
 * manifest id) the header's CID must also be it; it is checked before the hash list is hashed,
 * so a manifest of another release costs a hash of a few hundred bytes, not of 2 MiB.
 */
export function decodeManifest(
  encoded: Uint8Array,
  options: { expectedCid?: CID; limits?: ManifestLimits } = {},
): Result<Manifest, ManifestError> {
  const limits = options.limits ?? DEFAULT_MANIFEST_LIMITS
  const bytesMax = Math.min(MANIFEST_BYTES_MAX, limits.chunksMax * SHA256_BYTES + 1024)
  const raw = decodeCbor(encoded, bytesMax, { canonical: true })
  if (!raw.ok) return raw
  const decoded = manifestSchema(limits)(raw.value, '')
  if (!decoded.ok) return decoded
  const m = decoded.value
  const count = chunkCountOf(m.imageSize, m.chunkSize)
  if (count > limits.chunksMax) {
    return err({
      code: 'too-many-chunks',
      path: 'imageSize',
      message: `${m.imageSize} bytes in chunks of ${m.chunkSize} is ${count} chunks, over the limit of ${limits.chunksMax}`,
    })
  }
  if (m.chunkHashes.byteLength !== count * SHA256_BYTES) {
    return err({
      code: 'chunk-count-mismatch',
      path: 'chunkHashes',
      message: `${m.chunkHashes.byteLength / SHA256_BYTES} hashes for ${count} chunks`,
    })
  }
  if (options.expectedCid) {
    const id = manifestIdOf(m)
    if (!id.equals(options.expectedCid)) {
      return err({
        code: 'cid-mismatch',
        path: '',
        message: `the manifest's header has id ${cidToString(id)}, not the release's ${cidToString(options.expectedCid)}`,
      })
    }
  }
  if (!bytesEqual(chunkHashesDigest(m.chunkHashes), m.chunkHashesSha256)) {
    return err({
      code: 'chunk-hashes-mismatch',
      path: 'chunkHashes',
      message: 'the chunk hashes are not the ones the header commits (their SHA-256 differs)',
    })
  }
  return ok({
    type: MANIFEST_TYPE,
    version: MANIFEST_VERSION,
    imageSize: m.imageSize,
    chunkSize: m.chunkSize,
    // Copies, so a manifest never pins a large decode buffer.
    imageSha256: new Uint8Array(m.imageSha256),
    chunkHashesSha256: new Uint8Array(m.chunkHashesSha256),
    chunkHashes: new Uint8Array(m.chunkHashes),
  })
}
