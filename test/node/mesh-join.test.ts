import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { makeDevChain } from '../../src/ledger/dev-chain.js'
import { genesisToJson } from '../../src/ledger/genesis.js'
import { buildConfig } from '../../src/node/config.js'
import { Node } from '../../src/node/daemon.js'
import { makeLogger } from '../../src/node/log.js'
import { writeKeyFile } from '../../src/node/store/key-files.js'
import { eventually } from '../helpers/cluster.js'
import { tempDir } from '../helpers/tmp.js'

/**
 * The daemon wires peer exchange in: followers whose only bootstrap address is the origin's
 * (the cluster helper gives each node every earlier one) end up connected to each other.
 */
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

it('followers that know only the origin connect to each other, sync, and refuse a bad bootstrap address', async () => {
  const chain = makeDevChain({
    seed: 'mesh-join',
    validators: 1,
    params: { blockIntervalMs: 100, emptyBlockIntervalMs: 1_000 },
  })
  const { dir, cleanup } = await tempDir('mesh-join')
  cleanups.push(cleanup)
  const genesis = join(dir, 'genesis.json')
  await writeFile(genesis, genesisToJson(chain.genesis))
  const config = (name: string, role: 'validator' | 'follower', bootstrap: string[]) => {
    const c = buildConfig(
      {
        data_dir: join(dir, name),
        genesis,
        role,
        network: { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap, mdns: false },
        api: { listen: '127.0.0.1:0' },
      },
      {},
      dir,
    )
    if (!c.ok) throw new Error(c.error.message)
    return c.value
  }
  const start = async (name: string, role: 'validator' | 'follower', bootstrap: string[]) => {
    await mkdir(join(dir, name), { recursive: true })
    if (role === 'validator') await writeKeyFile(join(dir, name, 'node.key'), chain.validators[0]!)
    const node = await Node.start(config(name, role, bootstrap), { log: makeLogger('silent') })
    cleanups.push(() => node.stop())
    return node
  }

  const origin = await start('origin', 'validator', [])
  const only = [origin.addresses()[0]!]
  const followers = [
    await start('f0', 'follower', only),
    await start('f1', 'follower', only),
    await start('f2', 'follower', only),
  ]
  await eventually(
    'every follower connected to the origin and both others',
    () => followers.every((n) => n.status().peers === 3) || undefined,
  )
  await eventually(
    'every follower synced past genesis',
    () => followers.every((n) => n.status().head.height >= 2) || undefined,
  )

  // The config refuses it, naming the field; and so does the start, for a config built by hand.
  expect(() => config('bad', 'follower', ['/ip4/127.0.0.1/tcp/1'])).toThrow(
    /^network\.bootstrap must be a list of 0 to 256 multiaddrs, each ending in \/p2p\/ and a peer id \(.*has no \/p2p\/<peer id>\)/,
  )
  const good = config('bad', 'follower', [])
  const bad = { ...good, network: { ...good.network, bootstrap: ['/ip4/127.0.0.1/tcp/1'] } }
  await expect(Node.start(bad, { log: makeLogger('silent') })).rejects.toThrow(
    /network\.bootstrap: .*has no \/p2p\/<peer id>/,
  )
})
