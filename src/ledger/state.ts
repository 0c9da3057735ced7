import { toHex } from '../codec/bytes.js'
import type { Genesis } from './genesis.js'
import { type DigestUpdate, recordLeaf, StateDigest } from './state-root.js'
import type { Role, RolloutPlan } from './tx.js'

/** A role held by a key; publishers are scoped to products (`*` means every product). */
export interface RoleRecord {
  readonly role: Role
  readonly subject: Uint8Array
  readonly products: readonly string[] | null
  readonly grantedAt: number
}

/** What a device runs, by its last `confirmed` report (or the version a `rolled-back` one named). */
export interface InstalledRecord {
  /** The release it confirmed; absent when a rollback named a version and no release. */
  readonly release?: string
  readonly version: string
  readonly height: number
}

export interface DeviceRecord {
  readonly publicKey: Uint8Array
  readonly product: string
  readonly hardware: string
  readonly groups: readonly string[]
  readonly registeredAt: number
  /** The version the device runs, as its reports said last; null before the first. */
  readonly installed: InstalledRecord | null
  /**
   * The last release the device reported `failed` and the ledger counted (rules.ts): a device
   * counts once per release toward the failure threshold, however often it reports. Absent
   * until its first counted failure.
   */
  readonly failed?: string
}

export interface RevocationRecord {
  readonly height: number
  readonly time: number
  readonly by: Uint8Array
  readonly reason: string
}

/** A pause or abort of a release (`release.pause`, `release.abort`): who, when and why. */
export type ControlRecord = RevocationRecord

/**
 * The rollout crossed a wave's failure threshold (rules.ts): waves past `percent` do not open
 * until an admin resumes the release.
 */
export interface HaltRecord {
  readonly height: number
  readonly time: number
  /** The wave that was current (the last one open) when the threshold was reached. */
  readonly wave: number
  /** The cumulative share of the fleet open at the halt: devices above it wait. */
  readonly percent: number
  /** Failed devices in open waves, and targeted devices in open waves, at the halt. */
  readonly failures: number
  readonly targeted: number
}

export interface ReleaseRecord {
  /** The CID of the publish transaction, as a string. */
  readonly id: string
  readonly product: string
  readonly channel: string
  readonly version: string
  readonly hardware: readonly string[]
  readonly imageSize: number
  readonly imageSha256: Uint8Array
  /** The manifest id (the CID of its header, which the image fields make: manifest-id.ts), as a string. */
  readonly manifest: string
  readonly chunkSize: number
  readonly rollout: RolloutPlan
  readonly minFrom: string | null
  /** Device tags the release targets (any one suffices); absent when it targets every device. */
  readonly tags?: readonly string[]
  readonly publisher: Uint8Array
  readonly publishedAt: number
  readonly publishedTime: number
  readonly approvals: number
  /** The height at which approvals reached the threshold; null until then. */
  readonly approvedAt: number | null
  readonly revoked: RevocationRecord | null
  // The control fields are absent until first set, so records of releases never paused,
  // aborted or failing keep the bytes (and state-root leaves) they always had.
  /** Paused: no new download or install starts until `release.resume`. */
  readonly paused?: ControlRecord
  /** Aborted: final, like a revocation, but an operator's stop rather than a bad image. */
  readonly aborted?: ControlRecord
  /** Halted by a wave's failure threshold: later waves do not open. */
  readonly halted?: HaltRecord
  /** Devices counted failed for this release (first `failed` report of each, in open waves). */
  readonly failures?: number
}

/** True when devices may install the release: approved, not revoked and not aborted. */
export function isInstallable(release: ReleaseRecord): boolean {
  return release.approvedAt !== null && release.revoked === null && release.aborted === undefined
}

const TOMBSTONE = Symbol('deleted')

/**
 * A key-value table that reads through to a parent table. A derived state writes only into
 * its own layer, so checking a transaction against a state never changes that state, and
 * the layer's writes are exactly the batch the store persists.
 */
export class Table<V> {
  private readonly own = new Map<string, V | typeof TOMBSTONE>()
  /** Writes to this layer so far: the state root's caches are valid while this stays put. */
  private writeCount = 0

  constructor(
    readonly name: TableName,
    private readonly parent?: Table<V>,
  ) {}

  get(key: string): V | undefined {
    const value = this.own.get(key)
    if (value === TOMBSTONE) return undefined
    if (value !== undefined) return value
    return this.parent?.get(key)
  }

  has(key: string): boolean {
    return this.get(key) !== undefined
  }

  set(key: string, value: V): void {
    this.writeCount++
    this.own.set(key, value)
  }

  delete(key: string): void {
    this.writeCount++
    if (this.parent) this.own.set(key, TOMBSTONE)
    else this.own.delete(key)
  }

  /** How many writes this layer has taken (only ever grows). */
  get writes(): number {
    return this.writeCount
  }

  /** This layer's writes: a value, or undefined for a deletion. */
  *changes(): IterableIterator<[string, V | undefined]> {
    for (const [key, value] of this.own) yield [key, value === TOMBSTONE ? undefined : value]
  }

  /** Every live entry, parents included, in no particular order. */
  *entries(): IterableIterator<[string, V]> {
    const seen = new Set<string>()
    for (const [key, value] of this.own) {
      seen.add(key)
      if (value !== TOMBSTONE) yield [key, value]
    }
    if (this.parent) {
      for (const [key, value] of this.parent.entries()) if (!seen.has(key)) yield [key, value]
    }
  }

  /** Moves this layer's writes into the parent; the layer is empty afterwards. */
  mergeIntoParent(): void {
    if (!this.parent) return
    for (const [key, value] of this.own) {
      if (value === TOMBSTONE) this.parent.delete(key)
      else this.parent.set(key, value)
    }
    this.own.clear()
  }
}

export type TableName = 'roles' | 'devices' | 'releases' | 'latest' | 'approvals' | 'txs'
export const TABLE_NAMES: readonly TableName[] = [
  'roles',
  'devices',
  'releases',
  'latest',
  'approvals',
  'txs',
]

export interface Head {
  readonly height: number
  /** CID string of the head block's header; null at genesis. */
  readonly hash: string | null
  readonly time: number
}

/**
 * The state the rules derive from the log. Immutable from the outside: `apply` returns a
 * derived state, and only the store merges a derived state into its base.
 */
export class LedgerState {
  readonly roles: Table<RoleRecord>
  readonly devices: Table<DeviceRecord>
  readonly releases: Table<ReleaseRecord>
  /** Latest version per product and channel. */
  readonly latest: Table<string>
  /** `release/approver` → height of the approval. */
  readonly approvals: Table<number>
  /** Transaction id → height: a replay of a committed transaction is refused. */
  readonly txs: Table<number>
  private readonly adminKeys: ReadonlySet<string>
  head: Head
  /** A base state's record hashes, built on the first `stateRoot()`, then kept up to date. */
  private digest: StateDigest | undefined
  /** `writeStamp()` when `digest` was last in step with the tables. */
  private digestStamp = -1
  /** A derived state's last root computation, valid while `stamp` is the layers' write count. */
  private rootMemo: { readonly stamp: number; readonly update: DigestUpdate } | undefined

  constructor(
    readonly genesis: Genesis,
    private readonly parent?: LedgerState,
  ) {
    this.roles = new Table('roles', parent?.roles)
    this.devices = new Table('devices', parent?.devices)
    this.releases = new Table('releases', parent?.releases)
    this.latest = new Table('latest', parent?.latest)
    this.approvals = new Table('approvals', parent?.approvals)
    this.txs = new Table('txs', parent?.txs)
    this.adminKeys = parent?.adminKeys ?? new Set(genesis.admins.map(toHex))
    this.head = parent?.head ?? { height: 0, hash: null, time: genesis.time }
  }

  /** True when this state was derived directly from `state`. */
  isDerivedFrom(state: LedgerState): boolean {
    return this.parent === state
  }

  /**
   * An independent base state with the same entries and head. Records are immutable, so the
   * copy shares them; only the tables are new. O(entries), unlike a replay of the chain.
   */
  copy(): LedgerState {
    const out = new LedgerState(this.genesis)
    const targets = out.tables()
    this.tables().forEach((table, i) => {
      for (const [key, value] of table.entries()) targets[i]!.set(key, value)
    })
    out.head = this.head
    if (!this.parent && this.digest && this.digestStamp === this.writeStamp()) {
      out.digest = this.digest.clone()
      out.digestStamp = out.writeStamp()
    }
    return out
  }

  /** A new state layered on this one. */
  derive(): LedgerState {
    return new LedgerState(this.genesis, this)
  }

  /** Moves a derived state's writes into the state it was derived from. */
  mergeIntoParent(): void {
    const parent = this.parent
    if (!parent) return
    // A base state with a digest keeps it in step: the block's root was usually computed
    // already (it was checked against the header), so this is the same update applied.
    const update =
      !parent.parent && parent.digest && parent.digestStamp === parent.writeStamp()
        ? this.pendingUpdate()
        : undefined
    for (const table of this.tables()) table.mergeIntoParent()
    parent.head = this.head
    this.rootMemo = undefined
    if (update) {
      parent.digest!.apply(update)
      parent.digestStamp = parent.writeStamp()
    }
  }

  /**
   * The root of this state's records (state-root.ts), the value a block header commits.
   * Cheap after the first call on a base state: a derived state costs its changed records.
   */
  stateRoot(): Uint8Array {
    return this.parent ? this.pendingUpdate().root : this.ensureDigest().root
  }

  /** Forgets a base state's record hashes (memory); the next `stateRoot()` builds them again. */
  dropDigest(): void {
    this.digest = undefined
    this.digestStamp = -1
  }

  /** The record hashes of a base state (for naming the records two states differ in). */
  recordDigest(): StateDigest {
    let base: LedgerState = this
    while (base.parent) base = base.parent
    if (base !== this) return StateDigest.build(this.leaves())
    return this.ensureDigest()
  }

  private writeStamp(): number {
    let n = 0
    for (const table of this.tables()) n += table.writes
    return n
  }

  private *leaves(): IterableIterator<[string, Uint8Array]> {
    for (const table of this.tables()) {
      for (const [key, value] of table.entries()) {
        const recordKey = `${table.name}/${key}`
        yield [recordKey, recordLeaf(recordKey, value)]
      }
    }
  }

  private ensureDigest(): StateDigest {
    if (!this.digest || this.digestStamp !== this.writeStamp()) {
      this.digest = StateDigest.build(this.leaves())
      this.digestStamp = this.writeStamp()
    }
    return this.digest
  }

  /** The base digest's update for every layer between this state and its base. */
  private pendingUpdate(): DigestUpdate {
    const layers: LedgerState[] = []
    let base: LedgerState = this
    while (base.parent) {
      layers.push(base)
      base = base.parent
    }
    const digest = base.ensureDigest()
    let stamp = base.writeStamp()
    for (const layer of layers) stamp += layer.writeStamp()
    if (this.rootMemo?.stamp === stamp) return this.rootMemo.update
    const changes = new Map<string, Uint8Array | undefined>()
    // The layer nearest the base first: a later layer's write wins.
    for (const layer of layers.reverse()) {
      for (const table of layer.tables()) {
        for (const [key, value] of table.changes()) {
          const recordKey = `${table.name}/${key}`
          changes.set(recordKey, value === undefined ? undefined : recordLeaf(recordKey, value))
        }
      }
    }
    const update = digest.preview(changes)
    this.rootMemo = { stamp, update }
    return update
  }

  tables(): Table<unknown>[] {
    return [
      this.roles,
      this.devices,
      this.releases,
      this.latest,
      this.approvals,
      this.txs,
    ] as Table<unknown>[]
  }

  isAdmin(key: Uint8Array): boolean {
    return this.adminKeys.has(toHex(key))
  }

  role(role: Role, subject: Uint8Array): RoleRecord | undefined {
    return this.roles.get(roleKey(role, subject))
  }

  hasAnyRole(subject: Uint8Array): boolean {
    const hex = toHex(subject)
    return (
      this.roles.has(`publisher/${hex}`) ||
      this.roles.has(`approver/${hex}`) ||
      this.roles.has(`registrar/${hex}`)
    )
  }

  device(key: Uint8Array): DeviceRecord | undefined {
    return this.devices.get(toHex(key))
  }

  release(id: string): ReleaseRecord | undefined {
    return this.releases.get(id)
  }
}

export function roleKey(role: Role, subject: Uint8Array): string {
  return `${role}/${toHex(subject)}`
}

export function latestKey(product: string, channel: string): string {
  return `${product}/${channel}`
}

export function approvalKey(release: string, approver: Uint8Array): string {
  return `${release}/${toHex(approver)}`
}
