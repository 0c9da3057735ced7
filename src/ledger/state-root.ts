import { assert } from '../codec/assert.js'
import { bytesEqual } from '../codec/bytes.js'
import { sha256 } from '../codec/hash.js'
import { STATE_ROOT_BUCKET_BITS } from '../constants.js'
import { recordBytes } from './record-bytes.js'

/**
 * The state root a block header commits (docs/hardening.md, "Ledger state at rest"): a hash
 * tree of fixed shape. Each record goes to one of 4,096 buckets (2^STATE_ROOT_BUCKET_BITS) by
 * a hash of its key; a bucket's hash covers its records' leaf hashes in key order; 64 groups
 * of 64 consecutive buckets each hash their buckets' hashes; the root hashes the 64 group
 * hashes.
 *
 * Why this shape: the root is a pure function of the set of records (no insertion order, no
 * history), so every replica, follower and a store reopened from disk derive the same one;
 * and a block changes few records, so the root after a block costs the changed records'
 * leaves, their buckets (a few records each), the groups they fall in (2 KiB each) and the
 * root (2 KiB): 25-36 µs per install report on a loaded 2-core machine, a fifth of its
 * signature check in the same run (docs/hardening.md). A binary tree
 * over the buckets would cost 12 small hashes per changed bucket, and one flat hash over
 * all 4,096 bucket hashes 128 KiB per block even for a block of one transaction.
 *
 * A record's key here is `<table>/<key>` (table names hold no "/"), and its leaf is
 * SHA-256(0x00 ‖ recordBytes(recordKey, value)) (record-bytes.ts): an unambiguous encoding of
 * the decoded value, so a record read back from disk hashes like the one in memory. Domain
 * bytes keep leaves, buckets, groups and the root apart.
 */

const LEAF = 0
const ROOT = 1
const BUCKET = Uint8Array.of(2)
const GROUP = 3

const BUCKETS = 1 << STATE_ROOT_BUCKET_BITS
const GROUP_BITS = STATE_ROOT_BUCKET_BITS >> 1
const GROUPS = BUCKETS >> GROUP_BITS
const PER_GROUP = 1 << GROUP_BITS
const HASH_BYTES = 32

/** The leaf hash of one state record; `recordKey` is `<table>/<key>`. */
export function recordLeaf(recordKey: string, value: unknown): Uint8Array {
  return sha256(recordBytes(LEAF, recordKey, value))
}

/**
 * The bucket of a record key: FNV-1a over its UTF-16 code units, then a 32-bit finaliser
 * (MurmurHash3's) so the top bits are well mixed. Placement only spreads the work: whoever
 * could choose keys to crowd one bucket (a signer grinding transaction ids) only makes that
 * bucket slower to hash, never two states hash alike.
 */
export function bucketOf(recordKey: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < recordKey.length; i++) {
    h ^= recordKey.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> (32 - STATE_ROOT_BUCKET_BITS)
}

function bucketHash(records: ReadonlyMap<string, Uint8Array> | undefined): Uint8Array {
  if (!records || records.size === 0) return EMPTY_BUCKET
  const keys = [...records.keys()].sort(compareStrings)
  const out = new Uint8Array(1 + keys.length * HASH_BYTES)
  out.set(BUCKET, 0)
  for (const [i, k] of keys.entries()) out.set(records.get(k)!, 1 + i * HASH_BYTES)
  return sha256(out)
}

const EMPTY_BUCKET = sha256(BUCKET)

const groupScratch = new Uint8Array(1 + PER_GROUP * HASH_BYTES)

/** Hash of group `g`, from its buckets' hashes (`overlay` first, then `bucketHashes`). */
function groupHash(
  g: number,
  bucketHashes: Uint8Array,
  overlay?: ReadonlyMap<number, Uint8Array>,
): Uint8Array {
  groupScratch[0] = GROUP
  const first = g * PER_GROUP
  groupScratch.set(bucketHashes.subarray(first * HASH_BYTES, (first + PER_GROUP) * HASH_BYTES), 1)
  if (overlay) {
    for (let b = first; b < first + PER_GROUP; b++) {
      const h = overlay.get(b)
      if (h) groupScratch.set(h, 1 + (b - first) * HASH_BYTES)
    }
  }
  return sha256(groupScratch)
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Changes to apply to a digest: a record key → its new leaf, or undefined for a deletion. */
export type LeafChanges = ReadonlyMap<string, Uint8Array | undefined>

/** The result of `StateDigest.preview`: what `apply` writes, and the root it gives. */
export interface DigestUpdate {
  readonly root: Uint8Array
  readonly buckets: ReadonlyMap<number, Map<string, Uint8Array>>
  readonly bucketHashes: ReadonlyMap<number, Uint8Array>
  /** The new group table (the root's preimage), when any bucket changed. */
  readonly groups: Uint8Array | null
}

/**
 * The hashes of one whole state: every record's leaf, by bucket, the buckets' hashes, and
 * the table of group hashes the root is taken over (its first byte is the root's domain
 * byte). Updated in place as blocks are merged into the state it belongs to.
 */
export class StateDigest {
  private constructor(
    private readonly buckets: Array<Map<string, Uint8Array> | undefined>,
    private readonly bucketHashes: Uint8Array,
    private groups: Uint8Array,
    private rootHash: Uint8Array,
  ) {}

  /** The digest of a whole state, from each record's key and leaf. */
  static build(records: Iterable<readonly [string, Uint8Array]>): StateDigest {
    const buckets: Array<Map<string, Uint8Array> | undefined> = new Array(BUCKETS).fill(undefined)
    for (const [key, leaf] of records) {
      const b = bucketOf(key)
      let bucket = buckets[b]
      if (!bucket) {
        bucket = new Map()
        buckets[b] = bucket
      }
      bucket.set(key, leaf)
    }
    const bucketHashes = new Uint8Array(BUCKETS * HASH_BYTES)
    for (let b = 0; b < BUCKETS; b++) bucketHashes.set(bucketHash(buckets[b]), b * HASH_BYTES)
    const groups = new Uint8Array(1 + GROUPS * HASH_BYTES)
    groups[0] = ROOT
    for (let g = 0; g < GROUPS; g++) groups.set(groupHash(g, bucketHashes), 1 + g * HASH_BYTES)
    return new StateDigest(buckets, bucketHashes, groups, sha256(groups))
  }

  get root(): Uint8Array {
    return this.rootHash
  }

  /** The leaf of a record key, if the state holds it. */
  leaf(recordKey: string): Uint8Array | undefined {
    return this.buckets[bucketOf(recordKey)]?.get(recordKey)
  }

  /** Every record key and leaf, in no particular order. */
  *records(): IterableIterator<[string, Uint8Array]> {
    for (const bucket of this.buckets) if (bucket) yield* bucket
  }

  /** The root this digest would have with `changes` applied; this digest is unchanged. */
  preview(changes: LeafChanges): DigestUpdate {
    const buckets = new Map<number, Map<string, Uint8Array>>()
    for (const [key, leaf] of changes) {
      const b = bucketOf(key)
      let bucket = buckets.get(b)
      if (!bucket) {
        bucket = new Map(this.buckets[b])
        buckets.set(b, bucket)
      }
      if (leaf) bucket.set(key, leaf)
      else bucket.delete(key)
    }
    const bucketHashes = new Map<number, Uint8Array>()
    if (buckets.size === 0) return { root: this.rootHash, buckets, bucketHashes, groups: null }
    const dirty = new Set<number>()
    for (const [b, bucket] of buckets) {
      bucketHashes.set(b, bucketHash(bucket))
      dirty.add(b >> GROUP_BITS)
    }
    const groups = this.groups.slice()
    for (const g of dirty) groups.set(groupHash(g, this.bucketHashes, bucketHashes), 1 + g * HASH_BYTES)
    return { root: sha256(groups), buckets, bucketHashes, groups }
  }

  /** Applies an update that `preview` made from this digest as it is now. */
  apply(update: DigestUpdate): void {
    for (const [b, bucket] of update.buckets) this.buckets[b] = bucket.size > 0 ? bucket : undefined
    for (const [b, hash] of update.bucketHashes) this.bucketHashes.set(hash, b * HASH_BYTES)
    if (update.groups) {
      this.groups = update.groups
      this.rootHash = update.root
    }
    assert(bytesEqual(this.rootHash, update.root), 'the digest is at the update root')
  }

  /** An independent copy (leaves are immutable and shared). */
  clone(): StateDigest {
    return new StateDigest(
      this.buckets.map((b) => (b ? new Map(b) : undefined)),
      this.bucketHashes.slice(),
      this.groups.slice(),
      this.rootHash,
    )
  }
}

/** How a state's record differs from a reference state's. */
export interface RecordDifference {
  /** `<table>/<key>`. */
  readonly key: string
  /** `changed`: both hold it, with other values; `extra`: only the state; `missing`: only the reference. */
  readonly kind: 'changed' | 'extra' | 'missing'
}

/** The first record key (in string order) whose leaf differs between `state` and `reference`. */
export function firstDifference(state: StateDigest, reference: StateDigest): RecordDifference | undefined {
  let first: RecordDifference | undefined
  const consider = (key: string, kind: RecordDifference['kind']) => {
    if (first === undefined || key < first.key) first = { key, kind }
  }
  for (const [key, leaf] of state.records()) {
    const other = reference.leaf(key)
    if (!other) consider(key, 'extra')
    else if (!bytesEqual(leaf, other)) consider(key, 'changed')
  }
  for (const [key] of reference.records()) if (!state.leaf(key)) consider(key, 'missing')
  return first
}
