import { encodeCbor } from '../codec/cbor.js'
import { type CID, cidOfEncoded } from '../codec/cid.js'
import { sha256 } from '../codec/hash.js'

/**
 * The manifest id a release commits, derived from the release's own fields (docs/hardening.md,
 * "Releases a device would refuse are refused at submit"). A manifest (src/transfer/manifest.ts)
 * is a header and the list of its chunks' SHA-256 hashes; its id is the CID (v1, dag-cbor,
 * sha2-256) of the header alone, and the header commits the list by its SHA-256. The header's
 * other fields are the release's image fields, so the ledger, which never sees a manifest (its
 * chunk list is up to 2 MiB, a transaction at most 8 KiB), computes the id a release's fields
 * make and refuses a release that names another: no release can pair one image's manifest with
 * another image's fields.
 *
 * Here, not in src/transfer, because the ledger decides what a release commits and the
 * dependencies point from transfer to ledger (docs/architecture.md).
 *
 * The chunk list's digest is a plain SHA-256, not a domain-separated one: it is compared only
 * as the `chunkHashesSha256` field of a header typed `fwmesh.manifest`, version 2, whose own
 * fields fix the list's length (chunkCount × 32 bytes); it is a flat hash of one list, not a
 * node of a tree whose levels could be confused (why the state root separates its levels), and
 * no other fwmesh record takes a hash of a hash list where it could be substituted. A publisher
 * can check it with any SHA-256 tool.
 */

export const MANIFEST_TYPE = 'fwmesh.manifest'
/** Version 1 manifests were identified by the CID of the whole list; no release commits one now. */
export const MANIFEST_VERSION = 2

/** The fields of a release.publish that its manifest id is derived from. */
export interface ManifestIdFields {
  readonly imageSize: number
  readonly chunkSize: number
  readonly imageSha256: Uint8Array
  /** SHA-256 of the chunks' SHA-256 hashes, concatenated in chunk order. */
  readonly chunkHashesSha256: Uint8Array
}

/** The record whose CID is a manifest's id. */
export interface ManifestHeader extends ManifestIdFields {
  readonly type: typeof MANIFEST_TYPE
  readonly version: typeof MANIFEST_VERSION
}

export function manifestHeaderOf(fields: ManifestIdFields): ManifestHeader {
  return {
    type: MANIFEST_TYPE,
    version: MANIFEST_VERSION,
    imageSize: fields.imageSize,
    chunkSize: fields.chunkSize,
    imageSha256: fields.imageSha256,
    chunkHashesSha256: fields.chunkHashesSha256,
  }
}

/** The canonical DAG-CBOR of the header: the bytes a manifest id is the hash of. */
export function encodeManifestHeader(fields: ManifestIdFields): Uint8Array {
  return encodeCbor(manifestHeaderOf(fields))
}

/** The manifest id of a release with these fields. */
export function manifestIdOf(fields: ManifestIdFields): CID {
  return cidOfEncoded(encodeManifestHeader(fields))
}

/** The header's commitment to a chunk list (the chunks' hashes, concatenated). */
export function chunkHashesDigest(chunkHashes: Uint8Array): Uint8Array {
  return sha256(chunkHashes)
}
