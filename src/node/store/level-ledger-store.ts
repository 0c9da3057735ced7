import { access } from 'node:fs/promises'
import { Level } from 'level'
import { assert } from '../../codec/assert.js'
import { bytesEqual, toHex } from '../../codec/bytes.js'
import { decodeCbor, encodeCbor } from '../../codec/cbor.js'
import { cidToString } from '../../codec/cid.js'
import { err, ok, type Result } from '../../codec/result.js'
import {
  AUDIT_ROWS_MAX,
  LEDGER_CACHE_BYTES,
  LEDGER_WRITE_BUFFER_BYTES,
  STORE_VERIFY_BATCH_BLOCKS,
} from '../../constants.js'
import { type Block, decodeBlock } from '../../ledger/block.js'
import { type Certificate, decodeCertificate, encodeCertificate } from '../../ledger/certificate.js'
import { encodeGenesis, type Genesis, genesisId } from '../../ledger/genesis.js'
import type { AuditIndex, AuditRow, LedgerStore } from '../../ledger/ledger-store.js'
import { type Head, LedgerState, TABLE_NAMES, type TableName } from '../../ledger/state.js'
import { decodeHead, decodeStateRecord } from '../../ledger/state-records.js'
import { firstDifference } from '../../ledger/state-root.js'
import { decodeTx, type SignedTx } from '../../ledger/tx.js'
import {
  applyBlock,
  type BlockFault,
  checkBlockCertificate,
  checkBlockStructure,
  checkStateRoot,
  verifyBlock,
} from '../../ledger/verify-block.js'

/**
 * The ledger on disk (LevelDB through `level`): the node's implementation of the ledger
 * core's `LedgerStore` interface (src/ledger/ledger-store.ts). One atomic batch per block
 * holds the block, its certificate, the transaction index, the audit indexes, the state
 * changes and the new head, so a crash at any point leaves a store that holds a prefix of the
 * chain. On open it
 * re-checks the hash chain and every certificate and reports the first bad height, then
 * checks the stored state records against the state root the head block commits: a record
 * edited at rest is named, with the height whose root it breaks.
 *
 * Layout (sublevels):
 *   blocks  height → block bytes          certs  height → certificate bytes
 *   txs     tx id → [height, index]       audit  `<index>/<key>/<height>/<i>` → [time, tx bytes]
 *   state-<table>  key → record            meta   genesis, head, and keys the node owns
 */

/** Heights as fixed-width hex, so keys sort in height order. 12 digits cover 2^48 blocks. */
export function heightKey(height: number): string {
  return height.toString(16).padStart(12, '0')
}

export type StoreOpenError =
  | { readonly code: 'locked'; readonly message: string }
  | { readonly code: 'genesis-mismatch'; readonly message: string }
  /** A block, a certificate or the head record is bad: `height` is the first bad height. */
  | { readonly code: 'corrupt'; readonly message: string; readonly height: number }
  /**
   * The state records do not hash to the root the head block commits. `record` is the first
   * (in key order) that differs from a replay of the blocks, as `<table>/<key>`.
   */
  | {
      readonly code: 'corrupt-state'
      readonly message: string
      readonly height: number
      readonly record: string | null
    }
  /** `create: false` and there is no ledger in the directory. */
  | { readonly code: 'missing'; readonly message: string }
  | { readonly code: 'io'; readonly message: string }

export interface StoreOpenOptions {
  /** Re-verify every certificate on open (default true). Followers on slow devices may skip it. */
  readonly verifyCertificates?: boolean
  /**
   * fsync every appended block (default true), so a committed block survives a power cut,
   * not only a killed process. The simulator and benchmarks of other parts may turn it off.
   */
  readonly durable?: boolean
  /**
   * Create the store when there is none (default true). `fwmesh ledger verify` passes false:
   * a directory without a ledger is an error there, not an empty chain.
   */
  readonly create?: boolean
}

type Db = Level<string, Uint8Array>
function openSublevel(db: Db, name: string) {
  return db.sublevel<string, Uint8Array>(name, { valueEncoding: 'view' })
}
type Sub = ReturnType<typeof openSublevel>

const META_GENESIS = 'genesis'
const META_HEAD = 'head'
/** Keys the node may use for its own records (consensus persistence) start with this. */
const META_USER_PREFIX = 'user/'

export class LevelLedgerStore implements LedgerStore {
  private readonly blocksDb: Sub
  private readonly certsDb: Sub
  private readonly txsDb: Sub
  private readonly auditDb: Sub
  private readonly metaDb: Sub
  private readonly stateDbs: Map<TableName, Sub>
  private base: LedgerState
  private appending = false

  private constructor(
    private readonly db: Db,
    readonly genesis: Genesis,
    private readonly durable: boolean,
  ) {
    const sub = (name: string) => openSublevel(db, name)
    this.blocksDb = sub('blocks')
    this.certsDb = sub('certs')
    this.txsDb = sub('txs')
    this.auditDb = sub('audit')
    this.metaDb = sub('meta')
    this.stateDbs = new Map(TABLE_NAMES.map((t) => [t, sub(`state-${t}`)]))
    this.base = new LedgerState(genesis)
  }

  /** Opens (or creates) the store in `dir` for this genesis, verifying what it holds. */
  static async open(
    dir: string,
    genesis: Genesis,
    options: StoreOpenOptions = {},
  ): Promise<Result<LevelLedgerStore, StoreOpenError>> {
    const create = options.create !== false
    // classic-level makes the directory before it opens, even with createIfMissing false.
    if (
      !create &&
      !(await access(dir).then(
        () => true,
        () => false,
      ))
    )
      return err({ code: 'missing', message: `there is no ledger in ${dir}` })
    const db: Db = new Level<string, Uint8Array>(dir, {
      valueEncoding: 'view',
      cacheSize: LEDGER_CACHE_BYTES,
      writeBufferSize: LEDGER_WRITE_BUFFER_BYTES,
      createIfMissing: create,
    })
    try {
      await db.open()
    } catch (cause) {
      const code = (cause as { cause?: { code?: string } }).cause?.code
      if (code === 'LEVEL_LOCKED') {
        return err({ code: 'locked', message: `the ledger in ${dir} is open in another process` })
      }
      if (!create) return err({ code: 'missing', message: `there is no ledger in ${dir}` })
      return err({ code: 'io', message: `cannot open the ledger in ${dir}: ${(cause as Error).message}` })
    }
    if (!create && (await db.sublevel('meta').keys({ limit: 1 }).all()).length === 0) {
      await db.close()
      return err({ code: 'missing', message: `there is no ledger in ${dir} (an empty database)` })
    }
    const store = new LevelLedgerStore(db, genesis, options.durable !== false)
    const loaded = await store.load(options).catch((cause: unknown) =>
      err({
        code: 'io' as const,
        message: `cannot read the ledger in ${dir}: ${(cause as Error).message}`,
      }),
    )
    if (!loaded.ok) {
      await db.close()
      return loaded
    }
    return ok(store)
  }

  /** The state after the head block. Treat as read-only: derive from it to try things. */
  get state(): LedgerState {
    return this.base
  }

  get head(): Head {
    return this.base.head
  }

  private async load(options: StoreOpenOptions): Promise<Result<void, StoreOpenError>> {
    const id = genesisId(this.genesis).bytes
    const stored = await this.metaDb.get(META_GENESIS)
    if (stored === undefined) {
      const anyBlock = await this.blocksDb.keys({ limit: 1 }).all()
      if (anyBlock.length > 0)
        return err({ code: 'corrupt', message: 'blocks without a genesis record', height: 1 })
      await this.metaDb.put(META_GENESIS, id)
      return ok(undefined)
    }
    if (!bytesEqual(stored, id)) {
      return err({ code: 'genesis-mismatch', message: 'this ledger was created for another genesis (chain)' })
    }
    const headBytes = await this.metaDb.get(META_HEAD)
    let head: Head = { height: 0, hash: null, time: this.genesis.time }
    if (headBytes !== undefined) {
      const decoded = decodeHead(headBytes)
      if (!decoded.ok)
        return err({
          code: 'corrupt',
          message: `the head record is unreadable: ${decoded.error.message}`,
          height: 0,
        })
      head = decoded.value
    }
    const verified = await this.verifyChain(head.height, options.verifyCertificates !== false)
    if (!verified.ok) return verified
    if (verified.value.head.hash !== head.hash) {
      return err({
        code: 'corrupt',
        message: 'the head record does not match the last block',
        height: head.height,
      })
    }
    for (const [table, db] of this.stateDbs) {
      const target = this.base[table] as { set(k: string, v: unknown): void }
      for await (const [key, value] of db.iterator()) {
        const decoded = decodeStateRecord(table, value)
        if (!decoded.ok)
          return err({
            code: 'corrupt',
            message: `state record ${table}/${key} is unreadable: ${decoded.error.message}`,
            height: head.height,
          })
        target.set(key, decoded.value)
      }
    }
    this.base.head = head
    return this.checkState(verified.value.block)
  }

  /**
   * The stored records must hash to the root the head block commits (the empty state's root
   * at height 0). When they do not, a replay of the (verified) blocks names the first record
   * that differs: an edit at rest, or a write this store did not make.
   */
  private async checkState(headBlock: Block | null): Promise<Result<void, StoreOpenError>> {
    const height = this.base.head.height
    const root = this.base.stateRoot()
    const expected = headBlock ? headBlock.header.stateRoot : new LedgerState(this.genesis).stateRoot()
    if (bytesEqual(root, expected)) return ok(undefined)
    const replayed = await this.replayTo(height)
    const record = replayed.ok
      ? firstDifference(this.base.recordDigest(), replayed.value.recordDigest())
      : undefined
    const what = record
      ? `state record ${record.key} ${record.kind === 'extra' ? 'is not in' : record.kind === 'missing' ? 'is missing from' : 'differs from'} the state committed at height ${height}`
      : `the state records do not match the state root committed at height ${height}`
    return err({
      code: 'corrupt-state',
      message: `${what}; the state was edited at rest (rebuild it from the blocks, or restore the data directory)`,
      height,
      record: record?.key ?? null,
    })
  }

  /**
   * Walks blocks 1..height in order: each must decode, extend the previous one and carry a
   * valid certificate. Reads in bounded batches so a long chain needs little memory.
   */
  private async verifyChain(
    height: number,
    checkCertificates: boolean,
  ): Promise<Result<{ head: Head; block: Block | null }, StoreOpenError>> {
    let head: Head = { height: 0, hash: null, time: this.genesis.time }
    let last: Block | null = null
    while (head.height < height) {
      const from = head.height + 1
      const to = Math.min(height, head.height + STORE_VERIFY_BATCH_BLOCKS)
      const range = { gte: heightKey(from), lte: heightKey(to) }
      const [blocks, certs] = await Promise.all([
        this.blocksDb.iterator(range).all(),
        this.certsDb.iterator(range).all(),
      ])
      for (let h = from; h <= to; h++) {
        const corrupt = (why: string) =>
          err({ code: 'corrupt' as const, message: `block ${h}: ${why}`, height: h })
        const blockEntry = blocks[h - from]
        const certEntry = certs[h - from]
        if (!blockEntry || blockEntry[0] !== heightKey(h)) return corrupt('missing')
        if (!certEntry || certEntry[0] !== heightKey(h)) return corrupt('certificate missing')
        const block = decodeBlock(blockEntry[1], this.genesis.params.blockBytesMax)
        if (!block.ok) return corrupt(block.error.message)
        const cert = decodeCertificate(certEntry[1])
        if (!cert.ok) return corrupt(`certificate: ${cert.error.message}`)
        const structural = checkBlockStructure(this.genesis, head, block.value)
        if (structural) return corrupt(structural.message)
        if (checkCertificates) {
          const fault = checkBlockCertificate(this.genesis, block.value, cert.value)
          if (fault) return corrupt(fault.message)
        } else if (cert.value.height !== h || !cert.value.block.equals(block.value.hash)) {
          return corrupt('certificate is for another block')
        }
        head = { height: h, hash: block.value.hashString, time: block.value.header.time }
        last = block.value
      }
    }
    return ok({ head, block: last })
  }

  /**
   * Verifies `block` against the head (link, certificate, every transaction under the rules)
   * and appends it in one atomic batch. A refused block changes nothing.
   */
  async append(block: Block, cert: Certificate): Promise<Result<LedgerState, BlockFault>> {
    const next = verifyBlock(this.base, block, cert)
    if (!next.ok) return next
    await this.write(block, cert, next.value)
    return ok(this.base)
  }

  /**
   * Appends a block whose transactions were already applied to `next` (a state derived from
   * `this.state`) by the caller, e.g. consensus, which ran the rules while voting. The link
   * and certificate are still checked here.
   */
  async appendApplied(
    block: Block,
    cert: Certificate,
    next: LedgerState,
  ): Promise<Result<LedgerState, BlockFault>> {
    const structural = checkBlockStructure(this.genesis, this.base.head, block)
    if (structural) return err(structural)
    const certFault = checkBlockCertificate(this.genesis, block, cert)
    if (certFault) return err(certFault)
    const rootFault = checkStateRoot(next, block)
    if (rootFault) return err(rootFault)
    await this.write(block, cert, next)
    return ok(this.base)
  }

  /**
   * Appends a block that a consensus or follower core has already verified in full (it ran
   * every signature check before committing it). The link and certificate are checked again
   * (cheap, and they guard the file), and the rules re-derive the state change, but the
   * transactions' signatures are not verified a second time.
   */
  async appendVerified(block: Block, cert: Certificate): Promise<Result<LedgerState, BlockFault>> {
    const structural = checkBlockStructure(this.genesis, this.base.head, block)
    if (structural) return err(structural)
    const certFault = checkBlockCertificate(this.genesis, block, cert)
    if (certFault) return err(certFault)
    // The core checked the state root before it committed the block: the store keeps no
    // record hashes of its own after open (see `releaseStateDigest`).
    const next = applyBlock(this.base, block, { verifySignatures: false, checkStateRoot: false })
    if (!next.ok) return next
    await this.write(block, cert, next.value)
    return ok(this.base)
  }

  private async write(block: Block, cert: Certificate, next: LedgerState): Promise<void> {
    assert(!this.appending, 'LevelLedgerStore: one append at a time')
    assert(
      next.isDerivedFrom(this.base),
      'LevelLedgerStore: the new state must be derived from the store state',
    )
    this.appending = true
    try {
      const h = block.header.height
      const hk = heightKey(h)
      // A chained batch is atomic across sublevels: all of this lands, or none of it.
      const batch = this.db.batch()
      batch.put(hk, block.bytes, { sublevel: this.blocksDb })
      batch.put(hk, encodeCertificate(cert), { sublevel: this.certsDb })
      for (const [i, tx] of block.txs.entries()) {
        batch.put(tx.idString, encodeCbor([h, i]), { sublevel: this.txsDb })
        const row = encodeCbor([block.header.time, tx.bytes])
        const suffix = `${hk}/${i.toString(16).padStart(4, '0')}`
        for (const key of auditKeys(tx)) batch.put(`${key}/${suffix}`, row, { sublevel: this.auditDb })
      }
      for (const table of next.tables()) {
        const db = this.stateDbs.get(table.name)!
        for (const [key, value] of table.changes()) {
          if (value === undefined) batch.del(key, { sublevel: db })
          else batch.put(key, encodeCbor(value), { sublevel: db })
        }
      }
      batch.put(META_HEAD, encodeCbor(next.head), { sublevel: this.metaDb })
      await batch.write({ sync: this.durable })
      next.mergeIntoParent()
    } finally {
      this.appending = false
    }
  }

  /** The block and certificate at a height, or undefined above the head. */
  async block(height: number): Promise<{ block: Block; cert: Certificate } | undefined> {
    const key = heightKey(height)
    const [blockBytes, certBytes] = await Promise.all([this.blocksDb.get(key), this.certsDb.get(key)])
    if (blockBytes === undefined || certBytes === undefined) return undefined
    const block = decodeBlock(blockBytes, this.genesis.params.blockBytesMax)
    const cert = decodeCertificate(certBytes)
    if (!block.ok || !cert.ok) throw new Error(`the stored block at height ${height} is unreadable`)
    return { block: block.value, cert: cert.value }
  }

  /** Where a committed transaction is: its height and its index in the block. */
  async txLocation(id: string): Promise<{ height: number; index: number } | undefined> {
    const value = await this.txsDb.get(id)
    if (value === undefined) return undefined
    const decoded = decodeCbor(value, 64)
    if (!decoded.ok) return undefined
    const [height, index] = decoded.value as [number, number]
    return { height, index }
  }

  /** Audit rows under one index key, oldest first, at most `limit`. */
  async audit(index: AuditIndex, key: string, limit: number = AUDIT_ROWS_MAX): Promise<AuditRow[]> {
    const rows: AuditRow[] = []
    const prefix = `${index}/${key}/`
    const bound = Math.min(limit, AUDIT_ROWS_MAX)
    for await (const [k, value] of this.auditDb.iterator({
      gt: prefix,
      lt: `${prefix}\uffff`,
      limit: bound,
    })) {
      const [heightHex, indexHex] = k.slice(prefix.length).split('/')
      const decoded = decodeCbor(value, 1 << 16)
      if (!decoded.ok) throw new Error(`audit row ${k} is unreadable`)
      const [time, txBytes] = decoded.value as [number, Uint8Array]
      const tx = decodeTx(txBytes)
      if (!tx.ok) throw new Error(`audit row ${k} holds an unreadable transaction`)
      rows.push({
        height: Number.parseInt(heightHex!, 16),
        index: Number.parseInt(indexHex!, 16),
        time,
        tx: tx.value,
      })
    }
    return rows
  }

  /**
   * Rebuilds the state by replaying every stored block from genesis. Signatures are not checked
   * again (every block was verified before it was appended); the rules are.
   */
  async replayState(): Promise<Result<LedgerState, BlockFault & { height: number }>> {
    return this.replayTo(this.head.height)
  }

  /** Each block's state root is checked on the way (`applyBlock`). */
  private async replayTo(height: number): Promise<Result<LedgerState, BlockFault & { height: number }>> {
    const state = new LedgerState(this.genesis)
    for (let h = 1; h <= height; h++) {
      const entry = await this.block(h)
      if (!entry) throw new Error(`block ${h} is missing`)
      const next = applyBlock(state, entry.block, { verifySignatures: false })
      if (!next.ok) return err({ ...next.error, height: h })
      // Each block's layer folds into the one base state, so replay never builds a deep chain.
      next.value.mergeIntoParent()
    }
    return ok(state)
  }

  /**
   * Frees the store's record hashes (the state root's digest, built on open to check the
   * stored records). Call it once the consensus or follower core has its copy of the state
   * (`state.copy()` takes the digest along): the core checks every block's root, the store
   * appends with `appendVerified`, and a node keeps one digest, not two. `append` and
   * `appendApplied` still check roots (building the digest again if they must).
   */
  releaseStateDigest(): void {
    this.base.dropDigest()
  }

  /** A small record the node keeps beside the ledger (e.g. what a validator has signed). */
  async getMeta(key: string): Promise<Uint8Array | undefined> {
    return this.metaDb.get(META_USER_PREFIX + key)
  }

  async putMeta(key: string, value: Uint8Array): Promise<void> {
    await this.metaDb.put(META_USER_PREFIX + key, value)
  }

  /** The genesis bytes this store was created for. */
  genesisBytes(): Uint8Array {
    return encodeGenesis(this.genesis)
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}

/** The audit index keys a transaction is filed under. */
function auditKeys(tx: SignedTx): string[] {
  const body = tx.body
  const keys = [`signer/${toHex(body.signer)}`]
  switch (body.type) {
    case 'device.register':
    case 'device.revoke':
      keys.push(`device/${toHex(body.device)}`)
      break
    case 'install.report':
      keys.push(`device/${toHex(body.device)}`, `release/${cidToString(body.release)}`)
      break
    case 'release.publish':
      keys.push(`release/${tx.idString}`, `product/${body.product}`)
      break
    case 'release.approve':
    case 'release.revoke':
    case 'release.pause':
    case 'release.resume':
    case 'release.abort':
      keys.push(`release/${cidToString(body.release)}`)
      break
    case 'role.grant':
    case 'role.revoke':
      break
  }
  return keys
}
