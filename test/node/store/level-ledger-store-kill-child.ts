/**
 * Child process of the SIGKILL test: appends the deterministic chain of `seed` to the store
 * in `dir`, printing each height once it is appended, until killed.
 */
import '../../../src/polyfills.js'
import { LevelLedgerStore } from '../../../src/node/store/level-ledger-store.js'
import { killTestChain } from './level-ledger-store-kill-chain.js'

const [dir, seed] = process.argv.slice(2)
const { chain, blocks } = killTestChain(Number(seed))
const opened = await LevelLedgerStore.open(dir!, chain.genesis)
if (!opened.ok) {
  process.stderr.write(`${opened.error.message}\n`)
  process.exit(3)
}
const store = opened.value
for (const { block, cert } of blocks.slice(store.head.height)) {
  const r = await store.append(block, cert)
  if (!r.ok) {
    process.stderr.write(`${r.error.message}\n`)
    process.exit(4)
  }
  process.stdout.write(`${block.header.height}\n`)
}
process.stdout.write('done\n')
await store.close()
