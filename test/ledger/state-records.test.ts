import { Level } from 'level'
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/codec/bytes.js'
import { encodeCbor } from '../../src/codec/cbor.js'
import { DevBlockBuilder, makeDevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import { LevelLedgerStore } from '../../src/node/store/level-ledger-store.js'
import { tempDir } from '../helpers/tmp.js'

/** A store holding one record in every table: roles, a device, a release (approved, reported on). */
async function populatedStore(dir: string) {
  const chain = makeDevChain({ seed: 'state-records' })
  const f = new TxFactory(chain)
  const builder = new DevBlockBuilder(chain)
  const device = chain.key('device')
  const publish = f.publish({
    product: 'gw',
    version: '1.0.0',
    hardware: ['rev-a'],
    imageSize: 1000,
    imageSha256: new Uint8Array(32).fill(3),
  })
  const opened = await LevelLedgerStore.open(dir, chain.genesis, { durable: false })
  if (!opened.ok) throw new Error(opened.error.message)
  const store = opened.value
  for (const txs of [
    f.bootstrap(),
    [f.registerDevice(device.publicKey, 'gw', 'rev-a', ['eu']), publish],
    chain.approvers.map((a) => f.approve(publish.id, a)),
  ]) {
    const { block, cert } = builder.next(txs)
    const appended = await store.append(block, cert)
    if (!appended.ok) throw new Error(appended.error.message)
  }
  await store.close()
  return { chain, device }
}

describe('ledger: state records on disk', () => {
  // Regression: records were cast to their type unchecked, so a record of the wrong shape (a
  // damaged disk, a hand edit) opened fine and broke whatever read it later.
  it('a record of the wrong shape stops the store from opening, naming the table, key and field', async () => {
    const { dir, cleanup } = await tempDir('state-records')
    try {
      const { chain, device } = await populatedStore(dir)
      const key = toHex(device.publicKey)
      const raw = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
      const devices = raw.sublevel<string, Uint8Array>('state-devices', { valueEncoding: 'view' })
      const stored = await devices.get(key)
      expect(stored, 'the device record is on disk').toBeDefined()
      await devices.put(key, encodeCbor({ publicKey: device.publicKey, product: 5 }))
      await raw.close()
      const reopened = await LevelLedgerStore.open(dir, chain.genesis)
      expect(reopened.ok ? 'opened' : reopened.error.code).toBe('corrupt')
      if (!reopened.ok) {
        expect(reopened.error.message).toContain(`devices/${key}`)
        expect(reopened.error.message).toContain('product: expected a string')
      }
    } finally {
      await cleanup()
    }
  })

  it('a head record of the wrong shape stops the store from opening', async () => {
    const { dir, cleanup } = await tempDir('state-records-head')
    try {
      const { chain } = await populatedStore(dir)
      const raw = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
      const meta = raw.sublevel<string, Uint8Array>('meta', { valueEncoding: 'view' })
      await meta.put('head', encodeCbor({ height: '3', hash: null, time: 0 }))
      await raw.close()
      const reopened = await LevelLedgerStore.open(dir, chain.genesis)
      expect(reopened.ok ? 'opened' : reopened.error.code).toBe('corrupt')
      if (!reopened.ok) expect(reopened.error.message).toContain('height')
    } finally {
      await cleanup()
    }
  })
})
