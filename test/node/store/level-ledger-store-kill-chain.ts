import { utf8 } from '../../../src/codec/bytes.js'
import { sha256 } from '../../../src/codec/hash.js'
import { DevBlockBuilder, makeDevChain, TxFactory } from '../../../src/ledger/dev-chain.js'

/**
 * The chain the SIGKILL test appends: bootstrap roles, devices, one release, then blocks of
 * install reports. Deterministic from the seed, so parent and child build the same blocks.
 */
export function killTestChain(seed: number, blockCount = 400) {
  const chain = makeDevChain({ seed })
  const f = new TxFactory(chain)
  const builder = new DevBlockBuilder(chain)
  const devices = Array.from({ length: 8 }, (_, i) => chain.key(`device/${i}`))
  const hash = new Uint8Array(32).fill(7)
  const release = f.publish({
    product: 'gw',
    version: '1.0.0',
    hardware: ['rev-a'],
    imageSize: 1 << 20,
    imageSha256: hash,
    chunkHashesSha256: sha256(utf8(`chunks of ${seed}`)),
  })
  const blocks = [
    builder.next(f.bootstrap()),
    builder.next(devices.map((d) => f.registerDevice(d.publicKey, 'gw', 'rev-a'))),
    builder.next([release]),
  ]
  while (blocks.length < blockCount) {
    const time = blocks.length * 1000
    blocks.push(builder.next(devices.map((d) => f.report(d, release.id, 'downloading', hash, time))))
  }
  return { chain, blocks, release, devices }
}
