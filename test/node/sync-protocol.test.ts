import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keyPairFromSeed } from '../../src/crypto/ed25519.js'
import { DevBlockBuilder, makeDevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import { FramedStream } from '../../src/node/framing.js'
import { createHost, type Host, protocolIds } from '../../src/node/host.js'
import { makeLogger } from '../../src/node/log.js'
import { LevelLedgerStore } from '../../src/node/store/level-ledger-store.js'
import { requestSync, syncHandler } from '../../src/node/sync-protocol.js'
import { tempDir } from '../helpers/tmp.js'

const chain = makeDevChain({ seed: 'sync-protocol' })
const ids = protocolIds(chain.genesis.chainId)
const hostOptions = (seed: number) => ({
  keys: keyPairFromSeed(new Uint8Array(32).fill(seed)),
  listen: ['/ip4/127.0.0.1/tcp/0'],
  bootstrap: [],
  mdns: false,
})

describe('node: sync protocol over real libp2p on loopback', () => {
  let server: Host
  let client: Host
  let store: LevelLedgerStore
  let cleanup: () => Promise<void>
  const builder = new DevBlockBuilder(chain)

  beforeAll(async () => {
    const tmp = await tempDir('sync')
    cleanup = tmp.cleanup
    const opened = await LevelLedgerStore.open(tmp.dir, chain.genesis, { durable: false })
    if (!opened.ok) throw new Error(opened.error.message)
    store = opened.value
    const f = new TxFactory(chain)
    for (let i = 0; i < 300; i++) {
      const { block, cert } = builder.next(i === 0 ? f.bootstrap() : [])
      const r = await store.append(block, cert)
      if (!r.ok) throw new Error(r.error.message)
    }
    server = await createHost(hostOptions(1))
    client = await createHost(hostOptions(2))
    await server.handle(ids.sync, syncHandler(store, makeLogger('silent')))
    await client.dial(server.getMultiaddrs()[0]!)
  })

  afterAll(async () => {
    await client?.stop()
    await server?.stop()
    await store?.close()
    await cleanup?.()
  })

  it('returns consecutive certified blocks from the asked height, at most the batch limit', async () => {
    const r = await requestSync(client, ids.sync, server.peerId, 10, 1000)
    if (!r.ok) throw new Error(r.error)
    expect(r.blocks.length).toBe(128)
    expect(r.blocks.map((b) => b.block.header.height)).toEqual(Array.from({ length: 128 }, (_, i) => 10 + i))
    const stored = await store.block(10)
    expect(r.blocks[0]!.block.hashString).toBe(stored!.block.hashString)
    expect(r.blocks[0]!.cert).toEqual(stored!.cert)
  })

  it('returns the tail of the chain, and nothing above the head', async () => {
    const tail = await requestSync(client, ids.sync, server.peerId, 295, 50)
    expect(tail.ok && tail.blocks.map((b) => b.block.header.height)).toEqual([295, 296, 297, 298, 299, 300])
    const above = await requestSync(client, ids.sync, server.peerId, 301, 50)
    expect(above.ok && above.blocks).toEqual([])
  })

  it('drops a stream that sends garbage instead of a request, and keeps serving others', async () => {
    const stream = await client.dialProtocol(server.peerId, ids.sync)
    const framed = new FramedStream(stream, 1024)
    await framed.write(new Uint8Array([0xff, 0x00, 0x13]), 1000)
    const answer = await framed.read(2000).catch((e: Error) => e)
    expect(answer === null || answer instanceof Error, 'no sync response to garbage').toBe(true)
    const after = await requestSync(client, ids.sync, server.peerId, 1, 2)
    expect(after.ok && after.blocks.length).toBe(2)
  })
})
