import { assert } from '../codec/assert.js'
import { bytesEqual, concatBytes, utf8 } from '../codec/bytes.js'
import { encodeCbor } from '../codec/cbor.js'
import { sha256 } from '../codec/hash.js'
import { STATE_ROOT_BUCKET_BITS } from '../constants.js'

/**
 * The state root a block header commits (docs/hardening.md, "Ledger state at rest"): a
 * Merkle tree of fixed shape over 2^STATE_ROOT_BUCKET_BITS buckets. A record goes to the
 * bucket named by the first bits of SHA-256 of its key; a bucket's hash covers its records'
 * leaf hashes in key order; the root is the binary Merkle tree over the bucket hashes.
 *
 * Why this shape: the root is a pure function of the set of records (no insertion order, no
 * history), so every replica, follower and a store reopened from disk derive the same one;
 * and a block changes few records, so a root after a block costs the changed records'
 * leaves, their buckets and STATE_ROOT_BUCKET_BITS node hashes each, not the whole state.
 *
 * A record's key here is `<table>/<key>` (table names hold no "/"), and its leaf is
 * SHA-256(0x00 ‖ DAG-CBOR [table, key, value]): the canonical encoding, so a record read back
 * from disk hashes like the one in memory. Domain bytes keep leaves, buckets and inner nodes
 * apart.
 */

const LEAF = Uint8Array.of(0)
const NODE = Uint8Array.of(1)
const BUCKET = Uint8Array.of(2)

const BUCKETS = 1 << STATE_ROOT_BUCKET_BITS

/** The leaf hash of one state record. */
export function recordLeaf(table: string, key: string, value: unknown): Uint8Array {
  return sha256(concatBytes(LEAF, encodeCbor([table, key, value])))
}

/** The bucket of a record key (`<table>/<key>`). */
export function bucketOf(recordKey: string): number {
  const h = sha256(utf8(recordKey))
  return ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> (32 - STATE_ROOT_BUCKET_BITS)
}

function bucketHash(records: ReadonlyMap<string, Uint8Array> | undefined): Uint8Array {
  if (!records || records.size === 0) return EMPTY_BUCKET
  const keys = [...records.keys()].sort(compareStrings)
  return sha256(concatBytes(BUCKET, ...keys.map((k) => records.get(k)!)))
}

const EMPTY_BUCKET = sha256(BUCKET)

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Changes to apply to a digest: a record key → its new leaf, or undefined for a deletion. */
export type LeafChanges = ReadonlyMap<string, Uint8Array | undefined>

/** The result of `StateDigest.preview`: what `apply` writes, and the root it gives. */
export interface DigestUpdate {
  readonly root: Uint8Array
  readonly buckets: ReadonlyMap<number, Map<string, Uint8Array>>
  readonly nodes: ReadonlyMap<number, Uint8Array>
}

/**
 * The hashes of one whole state: every record's leaf, by bucket, and the tree's nodes
 * (`nodes[1]` is the root; bucket i is `nodes[BUCKETS + i]`). Updated in place as blocks are
 * merged into the state it belongs to.
 */
export class StateDigest {
  private constructor(
    private readonly buckets: Array<Map<string, Uint8Array> | undefined>,
    private readonly nodes: Uint8Array[],
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
    const nodes: Uint8Array[] = new Array(2 * BUCKETS)
    for (let i = 0; i < BUCKETS; i++) nodes[BUCKETS + i] = bucketHash(buckets[i])
    for (let i = BUCKETS - 1; i >= 1; i--) nodes[i] = sha256(concatBytes(NODE, nodes[2 * i]!, nodes[2 * i + 1]!))
    return new StateDigest(buckets, nodes)
  }

  get root(): Uint8Array {
    return this.nodes[1]!
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
    const nodes = new Map<number, Uint8Array>()
    let level = new Set<number>()
    for (const [b, bucket] of buckets) {
      nodes.set(BUCKETS + b, bucketHash(bucket))
      level.add((BUCKETS + b) >> 1)
    }
    const node = (i: number) => nodes.get(i) ?? this.nodes[i]!
    while (level.size > 0) {
      const next = new Set<number>()
      for (const i of level) {
        nodes.set(i, sha256(concatBytes(NODE, node(2 * i), node(2 * i + 1))))
        if (i > 1) next.add(i >> 1)
      }
      level = next
    }
    return { root: node(1), buckets, nodes }
  }

  /** Applies an update that `preview` made from this digest as it is now. */
  apply(update: DigestUpdate): void {
    for (const [b, bucket] of update.buckets) this.buckets[b] = bucket.size > 0 ? bucket : undefined
    for (const [i, hash] of update.nodes) this.nodes[i] = hash
    assert(this.nodes[1] === update.root || update.nodes.size === 0, 'the root is the update root')
  }

  /** An independent copy (leaves are immutable and shared). */
  clone(): StateDigest {
    return new StateDigest(
      this.buckets.map((b) => (b ? new Map(b) : undefined)),
      [...this.nodes],
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
