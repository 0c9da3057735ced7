import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { describe, expect, it } from 'vitest'
import { toHex } from '../../../src/codec/bytes.js'
import { decodeCbor, encodeCbor } from '../../../src/codec/cbor.js'
import { DevBlockBuilder, type DevChain, makeDevChain, TxFactory } from '../../../src/ledger/dev-chain.js'
import { LevelLedgerStore } from '../../../src/node/store/level-ledger-store.js'
import { tempDir } from '../../helpers/tmp.js'

/**
 * A state record edited in a stopped node's LevelDB store (not a block: blocks are covered by
 * their certificates) must stop the store from opening, naming the record and the height
 * whose state root it breaks. Before the header committed a state root, the store opened and
 * served the edited state (issue 19: a device then fetched firmware built for other hardware).
 */

const chain = makeDevChain({ seed: 'state-at-rest' })
const device = chain.key('device')
const deviceKey = toHex(device.publicKey)

/** A store with roles, a device, an approved release and an install report: 5 blocks. */
async function writeLedger(dir: string, c: DevChain = chain): Promise<{ height: number; release: string }> {
  const f = new TxFactory(c)
  const builder = new DevBlockBuilder(c)
  const release = f.publish({
    product: 'gw',
    version: '1.0.0',
    hardware: ['rev-a'],
    imageSize: 10,
    imageSha256: new Uint8Array(32).fill(7),
  })
  const opened = await LevelLedgerStore.open(dir, c.genesis)
  if (!opened.ok) throw new Error(opened.error.message)
  const store = opened.value
  for (const txs of [
    f.bootstrap(),
    [f.registerDevice(device.publicKey, 'gw', 'rev-a')],
    [release],
    [f.approve(release.id, c.approvers[0]!), f.approve(release.id, c.approvers[1]!)],
    [f.report(device, release.id, 'confirmed', new Uint8Array(32).fill(7), c.genesis.time + 9)],
  ]) {
    const { block, cert } = builder.next(txs)
    const r = await store.append(block, cert)
    if (!r.ok) throw new Error(r.error.message)
  }
  const height = store.head.height
  await store.close()
  return { height, release: release.idString }
}

/** Opens the raw LevelDB store as an attacker with the disk would, and edits one table. */
async function tamper(dir: string, table: string, edit: (db: TableDb) => Promise<void>): Promise<void> {
  const raw = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
  await edit(raw.sublevel<string, Uint8Array>(`state-${table}`, { valueEncoding: 'view' }))
  await raw.close()
}
interface TableDb {
  get(key: string): Promise<Uint8Array | undefined>
  put(key: string, value: Uint8Array): Promise<void>
  del(key: string): Promise<void>
}

async function rewrite(db: TableDb, key: string, change: (record: Record<string, unknown>) => void) {
  const bytes = await db.get(key)
  if (!bytes) throw new Error(`no record ${key}`)
  const decoded = decodeCbor(bytes, 1 << 20)
  if (!decoded.ok) throw new Error(decoded.error.message)
  const record = decoded.value as Record<string, unknown>
  change(record)
  await db.put(key, encodeCbor(record))
}

describe('ledger: store: a state record edited at rest', () => {
  const edits: Array<[string, string, (db: TableDb, release: string) => Promise<void>, string, string]> = [
    [
      "a device's hardware model changed (so it would fetch another model's firmware)",
      'devices',
      (db) => rewrite(db, deviceKey, (r) => Object.assign(r, { hardware: 'rev-evil' })),
      `devices/${deviceKey}`,
      'differs from',
    ],
    [
      "a release's hardware list widened",
      'releases',
      (db, release) => rewrite(db, release, (r) => Object.assign(r, { hardware: ['rev-a', 'rev-b'] })),
      'releases/',
      'differs from',
    ],
    [
      "a release's approvals zeroed",
      'releases',
      (db, release) => rewrite(db, release, (r) => Object.assign(r, { approvals: 0, approvedAt: null })),
      'releases/',
      'differs from',
    ],
    [
      'a role record added for an outsider',
      'roles',
      (db) =>
        db.put(
          `publisher/${toHex(chain.key('outsider').publicKey)}`,
          encodeCbor({
            role: 'publisher',
            subject: chain.key('outsider').publicKey,
            products: ['*'],
            grantedAt: 1,
          }),
        ),
      `roles/publisher/${toHex(chain.key('outsider').publicKey)}`,
      'is not in',
    ],
    [
      "the device's record deleted",
      'devices',
      (db) => db.del(deviceKey),
      `devices/${deviceKey}`,
      'is missing from',
    ],
  ]
  for (const [what, table, edit, record, phrase] of edits) {
    it(`refuses to open after ${what}, naming the record and the height`, async () => {
      const { dir, cleanup } = await tempDir('state-at-rest')
      try {
        const { height, release } = await writeLedger(dir)
        await tamper(dir, table, (db) => edit(db, release))
        const reopened = await LevelLedgerStore.open(dir, chain.genesis)
        expect(reopened.ok, 'the edited store does not open').toBe(false)
        if (reopened.ok) return
        const e = reopened.error
        expect(e.code).toBe('corrupt-state')
        if (e.code !== 'corrupt-state') return
        expect(e.height).toBe(height)
        expect(e.record?.startsWith(record), `${e.record} names ${record}`).toBe(true)
        expect(e.message).toContain(
          `state record ${e.record} ${phrase} the state committed at height ${height}`,
        )
      } finally {
        await cleanup()
      }
    })
  }

  it('opens an untouched store, and one whose record was rewritten with the same value', async () => {
    const { dir, cleanup } = await tempDir('state-at-rest-clean')
    try {
      const { height } = await writeLedger(dir)
      // Same value, re-encoded: not an edit.
      await tamper(dir, 'devices', (db) => rewrite(db, deviceKey, () => {}))
      const reopened = await LevelLedgerStore.open(dir, chain.genesis)
      expect(reopened.ok ? reopened.value.head.height : reopened.error.message).toBe(height)
      if (reopened.ok) await reopened.value.close()
    } finally {
      await cleanup()
    }
  })

  it('refuses a record added to a store that holds no block yet (height 0)', async () => {
    const { dir, cleanup } = await tempDir('state-at-rest-empty')
    try {
      const opened = await LevelLedgerStore.open(dir, chain.genesis)
      if (!opened.ok) throw new Error(opened.error.message)
      await opened.value.close()
      await tamper(dir, 'latest', (db) => db.put('gw/stable', encodeCbor('9.9.9')))
      const reopened = await LevelLedgerStore.open(dir, chain.genesis)
      expect(reopened.ok ? 'opened' : reopened.error).toMatchObject({
        code: 'corrupt-state',
        height: 0,
        record: 'latest/gw/stable',
      })
    } finally {
      await cleanup()
    }
  })

  it('with create: false, refuses a directory that does not exist or holds no ledger', async () => {
    const { dir, cleanup } = await tempDir('state-at-rest-missing')
    try {
      const missing = await LevelLedgerStore.open(join(dir, 'nope'), chain.genesis, { create: false })
      expect(missing.ok ? 'opened' : missing.error.code).toBe('missing')
      await mkdir(join(dir, 'empty'))
      const empty = await LevelLedgerStore.open(join(dir, 'empty'), chain.genesis, { create: false })
      expect(empty.ok ? 'opened' : empty.error.code).toBe('missing')
    } finally {
      await cleanup()
    }
  })
})
