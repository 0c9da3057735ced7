import { stat } from 'node:fs/promises'
import type { Command } from 'commander'
import { toHex } from '../../codec/bytes.js'
import { toPlainJson } from '../../codec/json.js'
import { parseGenesis } from '../../ledger/genesis.js'
import type { LedgerStore } from '../../ledger/ledger-store.js'
import { firstDifference } from '../../ledger/state-root.js'
import { txBodyJson } from '../../ledger/tx-json.js'
import { dataLayout } from '../../node/layout.js'
import { LevelLedgerStore } from '../../node/store/level-ledger-store.js'
import { CliError, ExitCode, type Output } from '../output.js'
import { readText } from './genesis.js'

async function openLedger(dataDir: string, genesisFile: string): Promise<LedgerStore> {
  const genesis = parseGenesis(await readText(genesisFile))
  if (!genesis.ok) throw new CliError(`${genesisFile}: ${genesis.error.message}`)
  // Never create a ledger here: a mistyped --data-dir must not read as an empty, valid chain.
  if (!(await isDirectory(dataDir))) throw new CliError(`no data directory at ${dataDir}`)
  const opened = await LevelLedgerStore.open(dataLayout(dataDir).ledger, genesis.value, { create: false })
  if (opened.ok) return opened.value
  const e = opened.error
  if (e.code === 'locked')
    throw new CliError(`${e.message}; stop the node first, or ask it with \`fwmesh status\``)
  if (e.code === 'missing')
    throw new CliError(`${dataDir} holds no ledger (${e.message}); is it a node's data directory?`)
  if (e.code === 'corrupt')
    throw new CliError(`the ledger is corrupt at height ${e.height}: ${e.message}`, ExitCode.corrupt, {
      height: e.height,
    })
  if (e.code === 'corrupt-state')
    throw new CliError(`the ledger is corrupt at height ${e.height}: ${e.message}`, ExitCode.corrupt, {
      height: e.height,
      record: e.record,
    })
  throw new CliError(e.message)
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}

export function registerLedger(program: Command, output: () => Output): void {
  const ledger = program
    .command('ledger')
    .description("check or export a node's ledger on disk (the node must be stopped)")
  ledger
    .command('verify')
    .description(
      'check every block link, certificate and state root, and that the stored state is the one the head commits (exit 5 if not)',
    )
    .requiredOption('--data-dir <dir>', "the node's data directory")
    .requiredOption('--genesis <file>', "the chain's genesis.json")
    .action(async (o: { dataDir: string; genesis: string }) => {
      // Opening checks every link and certificate, and the stored records against the state
      // root of the head block (naming the first bad record).
      const store = await openLedger(o.dataDir, o.genesis)
      try {
        // A replay checks each block's transactions under the rules and its state root.
        const replayed = await store.replayState()
        if (!replayed.ok) {
          throw new CliError(
            `replaying the ledger fails at height ${replayed.error.height}: ${replayed.error.message}`,
            ExitCode.corrupt,
            { height: replayed.error.height },
          )
        }
        const head = store.head
        const difference = firstDifference(store.state.recordDigest(), replayed.value.recordDigest())
        if (difference)
          throw new CliError(
            `the ledger is corrupt at height ${head.height}: state record ${difference.key} does not match a replay of the blocks`,
            ExitCode.corrupt,
            { height: head.height, record: difference.key },
          )
        output().result(
          { ok: true, height: head.height, head: head.hash, stateRoot: toHex(store.state.stateRoot()) },
          () => `ledger ok: ${head.height} blocks and the state verified, head ${head.hash ?? '(genesis)'}`,
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
            stateRoot: toHex(block.header.stateRoot),
            txs: block.txs.map((tx) => ({
              id: tx.idString,
              ...txBodyJson(tx.body),
              signature: toHex(tx.signature),
            })),
            certificate: { view: cert.view, validators: cert.votes.map((v) => v.validator) },
          }
          process.stdout.write(`${JSON.stringify(toPlainJson(line))}\n`)
        }
      } finally {
        await store.close()
      }
    })
}
