import { spawn } from 'node:child_process'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { describe, expect, it } from 'vitest'
import { toHex } from '../../../src/codec/bytes.js'
import { makeBlock } from '../../../src/ledger/block.js'
import { certify } from '../../../src/ledger/certificate.js'
import { DevBlockBuilder, makeDevChain, TxFactory } from '../../../src/ledger/dev-chain.js'
import { type LedgerState, TABLE_NAMES } from '../../../src/ledger/state.js'
import { heightKey, LevelLedgerStore } from '../../../src/node/store/level-ledger-store.js'
import { Prng } from '../../../src/prng.js'
import { tempDir } from '../../helpers/tmp.js'
import { killTestChain } from './level-ledger-store-kill-chain.js'

/** Every table of a state as sorted [key, value] pairs, for equality checks. */
function snapshot(state: LedgerState) {
  return Object.fromEntries(
    state.tables().map((t) => [t.name, [...t.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]),
  )
}

async function openStore(dir: string, genesis: Parameters<typeof LevelLedgerStore.open>[1]) {
  const r = await LevelLedgerStore.open(dir, genesis)
  if (!r.ok) throw new Error(`open failed: ${r.error.message}`)
  return r.value
}

describe('ledger: store', () => {
  it('appends 10,000 blocks, reopens and verifies them, and holds the state a fresh replay derives', async () => {
    const { dir, cleanup } = await tempDir('store10k')
    try {
      const chain = makeDevChain({ seed: 10 })
      const f = new TxFactory(chain)
      const builder = new DevBlockBuilder(chain)
      const devices = Array.from({ length: 16 }, (_, i) => chain.key(`d${i}`))
      const hash = new Uint8Array(32).fill(1)
      const store = await LevelLedgerStore.open(dir, chain.genesis, { durable: false }).then((r) => {
        if (!r.ok) throw new Error(r.error.message)
        return r.value
      })
      const release = f.publish({
        product: 'gw',
        version: '2.0.0',
        hardware: ['a'],
        imageSize: 10,
        imageSha256: hash,
      })
      const first = [
        builder.next(f.bootstrap()),
        builder.next(devices.map((d) => f.registerDevice(d.publicKey, 'gw', 'a'))),
        builder.next([release]),
        builder.next([
          f.approve(release.id, chain.approvers[0]!),
          f.approve(release.id, chain.approvers[1]!),
        ]),
      ]
      for (const b of first) expect((await store.append(b.block, b.cert)).ok).toBe(true)
      for (let h = 5; h <= 10_000; h++) {
        // Most blocks are empty heartbeats; every 10th carries a report, so the state keeps changing.
        const txs =
          h % 10 === 0
            ? [f.report(devices[h % 16]!, release.id, h % 20 === 0 ? 'confirmed' : 'downloading', hash, h)]
            : []
        const { block, cert } = builder.next(txs)
        const r = await store.append(block, cert)
        if (!r.ok) throw new Error(`append ${h}: ${r.error.message}`)
      }
      expect(store.head.height).toBe(10_000)
      const before = snapshot(store.state)
      await store.close()

      const reopened = await openStore(dir, chain.genesis)
      expect(reopened.head).toEqual(builder.state.head)
      expect(snapshot(reopened.state)).toEqual(before)
      const replayed = await reopened.replayState()
      if (!replayed.ok) throw new Error(replayed.error.message)
      expect(snapshot(replayed.value)).toEqual(before)
      expect(snapshot(replayed.value)).toEqual(snapshot(builder.state))
      expect(reopened.state.device(devices[0]!.publicKey)?.installed?.version).toBe('2.0.0')
      const copy = reopened.state.copy()
      expect(snapshot(copy), 'a copy holds the same state').toEqual(before)
      expect(copy.head).toEqual(reopened.state.head)
      await reopened.close()
    } finally {
      await cleanup()
    }
  })

  it('reports the height of a block whose bytes were changed in the database files, when it opens', async () => {
    const { dir, cleanup } = await tempDir('corrupt')
    try {
      const { chain, blocks } = killTestChain(3, 60)
      const store = await openStore(dir, chain.genesis)
      for (const b of blocks) expect((await store.append(b.block, b.cert)).ok).toBe(true)
      await store.close()
      // LevelDB keeps recent writes in its log file and older ones in sorted tables; find the
      // stored bytes of block 37 wherever they are, and flip one byte inside them.
      const target = Buffer.from(blocks[36]!.block.bytes)
      const files = (await readdir(dir)).filter((name) => name.endsWith('.log') || name.endsWith('.ldb'))
      let flipped = false
      for (const name of files) {
        const content = await readFile(join(dir, name))
        const at = content.indexOf(target)
        if (at < 0) continue
        // A byte in the middle of a transaction's signature: the block still decodes, but no longer matches.
        content[at + Math.floor(target.length / 2)]! ^= 0x01
        await writeFile(join(dir, name), content)
        flipped = true
      }
      expect(flipped, 'the block bytes were found on disk').toBe(true)
      const reopened = await LevelLedgerStore.open(dir, chain.genesis)
      expect(reopened.ok).toBe(false)
      if (reopened.ok) return
      expect(reopened.error.code).toBe('corrupt')
      expect(reopened.error).toMatchObject({ height: 37 })
    } finally {
      await cleanup()
    }
  })

  it('reports the height of a block changed behind its back with valid LevelDB checksums, wherever the byte is', async () => {
    const { chain, blocks } = killTestChain(6, 40)
    const original = blocks[36]!.block.bytes
    // Positions across the block: header fields, the tx root, envelopes, signatures, bodies.
    const positions = Array.from({ length: 12 }, (_, i) => Math.floor(((i + 0.5) * original.length) / 12))
    for (const position of positions) {
      const { dir, cleanup } = await tempDir('tamper')
      try {
        const store = await openStore(dir, chain.genesis)
        for (const b of blocks) expect((await store.append(b.block, b.cert)).ok).toBe(true)
        await store.close()
        const raw = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
        const blocksDb = raw.sublevel<string, Uint8Array>('blocks', { valueEncoding: 'view' })
        const tampered = new Uint8Array(original)
        tampered[position]! ^= 0x01
        await blocksDb.put(heightKey(37), tampered)
        await raw.close()
        const reopened = await LevelLedgerStore.open(dir, chain.genesis)
        expect(reopened.ok, `byte ${position} of ${original.length}`).toBe(false)
        if (!reopened.ok)
          expect(reopened.error, `byte ${position}`).toMatchObject({ code: 'corrupt', height: 37 })
      } finally {
        await cleanup()
      }
    }
  })

  it('after a SIGKILL at a random moment while appending, opens, verifies, and holds a prefix of what was appended', async () => {
    const prng = Prng.fromSeed('store-kill')
    for (let round = 0; round < 4; round++) {
      const { dir, cleanup } = await tempDir('kill')
      try {
        const seed = 100 + round
        const { chain, blocks } = killTestChain(seed)
        const child = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            join(import.meta.dirname, 'level-ledger-store-kill-child.ts'),
            dir,
            String(seed),
          ],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        )
        let appended = 0
        const killAfter = prng.range(5, 250)
        let stderr = ''
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString()
        })
        const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
        child.stdout.on('data', (d: Buffer) => {
          appended += d
            .toString()
            .split('\n')
            .filter((l) => /^\d+$/.test(l)).length
          if (appended >= killAfter) child.kill('SIGKILL')
        })
        await exited
        expect(
          appended,
          `the child appended blocks before the kill (stderr: ${stderr})`,
        ).toBeGreaterThanOrEqual(killAfter)
        const store = await openStore(dir, chain.genesis)
        // Everything the child reported appended is there; maybe more, never less, never other blocks.
        expect(store.head.height).toBeGreaterThanOrEqual(appended)
        for (let h = 1; h <= store.head.height; h++) {
          const stored = await store.block(h)
          expect(stored?.block.hashString, `block ${h} (seed ${seed})`).toBe(blocks[h - 1]!.block.hashString)
        }
        // And appending resumes where the store stands.
        const next = blocks[store.head.height]!
        expect((await store.append(next.block, next.cert)).ok).toBe(true)
        await store.close()
      } finally {
        await cleanup()
      }
    }
  })

  it('refuses a second open of the same directory with a clear error', async () => {
    const { dir, cleanup } = await tempDir('locked')
    try {
      const chain = makeDevChain()
      const store = await openStore(dir, chain.genesis)
      const second = await LevelLedgerStore.open(dir, chain.genesis)
      expect(second.ok).toBe(false)
      if (!second.ok) expect(second.error.code).toBe('locked')
      await store.close()
    } finally {
      await cleanup()
    }
  })

  it('refuses to open a ledger made for another genesis', async () => {
    const { dir, cleanup } = await tempDir('genesis')
    try {
      await (await openStore(dir, makeDevChain({ seed: 1 }).genesis)).close()
      const other = await LevelLedgerStore.open(dir, makeDevChain({ seed: 2 }).genesis)
      expect(other.ok).toBe(false)
      if (!other.ok) expect(other.error.code).toBe('genesis-mismatch')
    } finally {
      await cleanup()
    }
  })

  it('refuses a block with a forged certificate or a broken link and keeps its head', async () => {
    const { dir, cleanup } = await tempDir('refuse')
    try {
      const chain = makeDevChain({ seed: 4 })
      const builder = new DevBlockBuilder(chain)
      const store = await openStore(dir, chain.genesis)
      const first = builder.next([])
      expect((await store.append(first.block, first.cert)).ok).toBe(true)
      const second = builder.next([])
      // Signed by outsiders: the validator indexes are right, the keys are not.
      const outsiders = new Map([0, 1, 2].map((i) => [i, chain.key(`outsider/${i}`).secretKey]))
      const forged = certify(chain.genesis, outsiders, 2, 0, second.block.hash)
      const r1 = await store.append(second.block, forged)
      expect(r1.ok ? 'accepted' : r1.error.code).toBe('bad-certificate')
      const orphan = makeBlock(
        {
          chain: chain.genesis.chainId,
          height: 2,
          prev: null,
          time: second.block.header.time,
          proposer: 0,
          stateRoot: second.block.header.stateRoot,
        },
        [],
      )
      const r2 = await store.append(
        orphan,
        certify(chain.genesis, new Map(chain.validators.map((v, i) => [i, v.secretKey])), 2, 0, orphan.hash),
      )
      expect(r2.ok ? 'accepted' : r2.error.code).toBe('broken-link')
      expect(store.head.height).toBe(1)
      expect((await store.append(second.block, second.cert)).ok).toBe(true)
      await store.close()
    } finally {
      await cleanup()
    }
  })
})

describe('ledger: store, appending blocks a core already verified', () => {
  it('appends them with the same resulting state, and still refuses a forged certificate or a broken rule', async () => {
    const { dir, cleanup } = await tempDir('verified')
    try {
      const chain = makeDevChain({ seed: 'verified' })
      const f = new TxFactory(chain)
      const builder = new DevBlockBuilder(chain)
      const store = await openStore(dir, chain.genesis)
      const device = chain.key('device')
      const blocks = [
        builder.next(f.bootstrap()),
        builder.next([f.registerDevice(device.publicKey, 'gw', 'a')]),
      ]
      for (const b of blocks) expect((await store.appendVerified(b.block, b.cert)).ok).toBe(true)
      expect(snapshot(store.state)).toEqual(snapshot(builder.state))

      const next = builder.next([])
      const outsiders = new Map([0, 1, 2].map((i) => [i, chain.key(`outsider/${i}`).secretKey]))
      const forged = await store.appendVerified(
        next.block,
        certify(chain.genesis, outsiders, 3, 0, next.block.hash),
      )
      expect(forged.ok ? 'accepted' : forged.error.code).toBe('bad-certificate')
      // A block whose transaction breaks a rule (a second registration of the same device).
      const breaking = makeBlock(
        {
          chain: chain.genesis.chainId,
          height: 3,
          prev: blocks[1]!.block.hash,
          time: next.block.header.time,
          proposer: 0,
          stateRoot: next.block.header.stateRoot,
        },
        [f.registerDevice(device.publicKey, 'gw', 'a')],
      )
      const all = new Map(chain.validators.map((v, i) => [i, v.secretKey]))
      const refused = await store.appendVerified(breaking, certify(chain.genesis, all, 3, 0, breaking.hash))
      expect(refused.ok ? 'accepted' : refused.error.code).toBe('rejected-tx')
      expect(store.head.height).toBe(2)
      await store.close()
    } finally {
      await cleanup()
    }
  })
})

describe('ledger: audit queries', () => {
  it('answer what happened to a device, a release and a product, and who approved what, when', async () => {
    const { dir, cleanup } = await tempDir('audit')
    try {
      const chain = makeDevChain({ seed: 5 })
      const f = new TxFactory(chain)
      const builder = new DevBlockBuilder(chain)
      const store = await openStore(dir, chain.genesis)
      const device = chain.key('device')
      const hash = new Uint8Array(32).fill(9)
      const v1 = f.publish({
        product: 'gw',
        version: '1.0.0',
        hardware: ['a'],
        imageSize: 5,
        imageSha256: hash,
      })
      const v2 = f.publish({
        product: 'gw',
        version: '1.1.0',
        hardware: ['a'],
        imageSize: 5,
        imageSha256: hash,
      })
      const [a0, a1] = chain.approvers as [(typeof chain.approvers)[0], (typeof chain.approvers)[0]]
      const blocks = [
        builder.next(f.bootstrap()),
        builder.next([f.registerDevice(device.publicKey, 'gw', 'a'), v1]),
        builder.next([f.approve(v1.id, a0), f.approve(v1.id, a1)]),
        builder.next([
          f.report(device, v1.id, 'downloading', hash, 1),
          f.report(device, v1.id, 'confirmed', hash, 2),
        ]),
        builder.next([v2, f.approve(v2.id, a0)]),
      ]
      for (const b of blocks) expect((await store.append(b.block, b.cert)).ok).toBe(true)

      const history = await store.audit('device', toHex(device.publicKey))
      expect(history.map((r) => r.tx.body.type)).toEqual([
        'device.register',
        'install.report',
        'install.report',
      ])
      expect(history.map((r) => r.height)).toEqual([2, 4, 4])

      const releaseRows = await store.audit('release', v1.idString)
      expect(releaseRows.map((r) => r.tx.body.type)).toEqual([
        'release.publish',
        'release.approve',
        'release.approve',
        'install.report',
        'install.report',
      ])
      const products = await store.audit('product', 'gw')
      expect(products.map((r) => r.tx.idString)).toEqual([v1.idString, v2.idString])

      const byApprover = await store.audit('signer', toHex(a0.publicKey))
      expect(byApprover.map((r) => [r.tx.body.type, r.height, r.time])).toEqual([
        ['release.approve', 3, blocks[2]!.block.header.time],
        ['release.approve', 5, blocks[4]!.block.header.time],
      ])
      expect(await store.txLocation(v2.idString)).toEqual({ height: 5, index: 0 })
      expect(TABLE_NAMES.length).toBe(store.state.tables().length)
      await store.close()
    } finally {
      await cleanup()
    }
  })
})
