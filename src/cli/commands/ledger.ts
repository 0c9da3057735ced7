import type { Command } from 'commander'
import { toHex } from '../../codec/bytes.js'
import { parseGenesis } from '../../ledger/genesis.js'
import { LedgerStore } from '../../ledger/store.js'
import { dataLayout } from '../../node/layout.js'
import { CliError, ExitCode, jsonReplacer, type Output } from '../output.js'
import { readText } from './genesis.js'

async function openLedger(dataDir: string, genesisFile: string): Promise<LedgerStore> {
  const genesis = parseGenesis(await readText(genesisFile))
  if (!genesis.ok) throw new CliError(`${genesisFile}: ${genesis.error.message}`)
  const opened = await LedgerStore.open(dataLayout(dataDir).ledger, genesis.value)
  if (opened.ok) return opened.value
  const e = opened.error
  if (e.code === 'locked')
    throw new CliError(`${e.message}; stop the node first, or ask it with \`fwmesh status\``)
  if (e.code === 'corrupt')
    throw new CliError(`the ledger is corrupt at height ${e.height}: ${e.message}`, ExitCode.corrupt, {
      height: e.height,
    })
  throw new CliError(e.message)
}

export function registerLedger(program: Command, output: () => Output): void {
  const ledger = program
    .command('ledger')
    .description("check or export a node's ledger on disk (the node must be stopped)")
  ledger
    .command('verify')
    .description('re-check every block link and certificate, and that the state equals a fresh replay')
    .requiredOption('--data-dir <dir>', "the node's data directory")
    .requiredOption('--genesis <file>', "the chain's genesis.json")
    .action(async (o: { dataDir: string; genesis: string }) => {
      const store = await openLedger(o.dataDir, o.genesis)
      try {
        const replayed = await store.replayState()
        if (!replayed.ok) {
          throw new CliError(
            `replaying the ledger fails at height ${replayed.error.height}: ${replayed.error.message}`,
            ExitCode.corrupt,
          )
        }
        const same = store.state.tables().every((table, i) => {
          const other = replayed.value.tables()[i]!
          const a = new Map([...table.entries()].map(([k, v]) => [k, JSON.stringify(v, jsonReplacer)]))
          const b = [...other.entries()]
          return a.size === b.length && b.every(([k, v]) => a.get(k) === JSON.stringify(v, jsonReplacer))
        })
        if (!same)
          throw new CliError(
            'the stored state differs from a replay of the blocks; the state records are damaged',
            ExitCode.corrupt,
          )
        const head = store.head
        output().result(
          { ok: true, height: head.height, head: head.hash },
          () => `ledger ok: ${head.height} blocks verified, head ${head.hash ?? '(genesis)'}`,
        )
      } finally {
        await store.close()
      }
    })
  ledger
    .command('export')
    .description('print blocks as JSON lines (one block a line) for archives and audits')
    .requiredOption('--data-dir <dir>', "the node's data directory")
    .requiredOption('--genesis <file>', "the chain's genesis.json")
    .option('--from <height>', 'first height', '1')
    .option('--to <height>', 'last height (default: the head)')
    .action(async (o: { dataDir: string; genesis: string; from: string; to?: string }) => {
      const store = await openLedger(o.dataDir, o.genesis)
      try {
        const from = Number(o.from)
        const to = o.to === undefined ? store.head.height : Math.min(Number(o.to), store.head.height)
        if (!Number.isSafeInteger(from) || from < 1 || !Number.isSafeInteger(to))
          throw new CliError('--from and --to must be heights (whole numbers from 1)')
        for (let h = from; h <= to; h++) {
          const entry = await store.block(h)
          if (!entry) break
          const { block, cert } = entry
          const line = {
            height: h,
            hash: block.hashString,
            prev: block.header.prev?.toString() ?? null,
            time: block.header.time,
            proposer: block.header.proposer,
            txs: block.txs.map((tx) => ({ id: tx.idString, ...tx.body, signature: toHex(tx.signature) })),
            certificate: { view: cert.view, validators: cert.votes.map((v) => v.validator) },
          }
          process.stdout.write(`${JSON.stringify(line, jsonReplacer)}\n`)
        }
      } finally {
        await store.close()
      }
    })
}
