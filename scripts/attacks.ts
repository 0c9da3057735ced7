/**
 * `npm run test:attacks`: the attack list of issue 19 as real processes. Starts a mesh of 4
 * validators and 3 devices with the CLI on 127.0.0.1 (scripts/attacks/mesh.ts), runs every
 * attack in order, prints a table attack -> outcome and one JSON line, and exits 1 when an
 * attack was not rejected or a device installed what it should not. Every process is stopped
 * and the temporary directory removed at the end, also on failure.
 *
 * `--only a,b` runs the named groups alone (rules, download, slow, gossip, freeze, at-rest,
 * flood), after the setup and the clean rollout: for working on one attack.
 */
import '../src/polyfills.js'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { tamperedAtRest } from './attacks/at-rest.js'
import { cleanRollout, hostileDownload, slowRetrieval } from './attacks/download.js'
import { freeze } from './attacks/freeze.js'
import { forgedBlocks } from './attacks/gossip.js'
import {
  arbitrarySoftware,
  mixedManifest,
  replayTx,
  rollback,
  threshold,
  wrongHardware,
} from './attacks/ledger-rules.js'
import { type Outcome, round, startMesh } from './attacks/mesh.js'
import { voteFlood } from './attacks/vote-flood.js'
import { fleet, ROOT, stopAll } from './fleet.js'

async function main(args: string[]): Promise<number> {
  const i = args.indexOf('--only')
  const only = i >= 0 ? new Set(args[i + 1]!.split(',')) : null
  const runs = (group: string) => only === null || only.has(group)
  if (!existsSync(join(ROOT, 'dist/fwmesh.mjs'))) throw new Error('run `npm run build` first')
  fleet.dir = await mkdtemp(join(tmpdir(), 'fwmesh-attacks-'))
  const started = performance.now()
  const load = [round(loadavg()[0]!)]
  const outcomes: Outcome[] = []
  const record = async (group: string, what: () => Promise<Outcome | Outcome[]>) => {
    if (!runs(group)) return
    const at = performance.now()
    try {
      const o = await what()
      for (const x of Array.isArray(o) ? o : [o]) {
        outcomes.push(x)
        process.stderr.write(
          `attacks: ${x.attack}: ${x.rejected ? 'rejected' : 'NOT REJECTED'} (${round((performance.now() - at) / 1000, 1)} s)\n`,
        )
      }
    } catch (error) {
      outcomes.push({
        attack: group,
        tried: '(the attack did not run to its end)',
        outcome: `harness error: ${(error as Error).message}`,
        rejected: false,
      })
      process.stderr.write(`attacks: ${group}: harness error: ${(error as Error).stack}\n`)
    }
  }
  // Interrupted: the same cleanup as the end (nodes stopped, the directory removed).
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      void stopAll()
        .then(() => rm(fleet.dir, { recursive: true, force: true }))
        .finally(() => process.exit(130))
    })
  try {
    process.stderr.write(`attacks: starting 4 validators and 3 devices in ${fleet.dir}\n`)
    const mesh = await startMesh()
    process.stderr.write('attacks: the clean rollout of 1.1.0\n')
    const clean = await cleanRollout(mesh)
    if (!clean.installedRight.every(Boolean)) throw new Error('the clean rollout did not install everywhere')
    await record('rules', () => arbitrarySoftware(mesh))
    await record('rules', () => rollback(mesh))
    await record('rules', () => threshold(mesh))
    await record('rules', () => wrongHardware(mesh))
    await record('download', () => hostileDownload(mesh, clean))
    await record('slow', () => slowRetrieval(mesh, clean))
    await record('rules', () => mixedManifest(mesh))
    await record('freeze', () => freeze(mesh))
    await record('gossip', () => forgedBlocks(mesh))
    await record('rules', () => replayTx(mesh))
    await record('at-rest', () => tamperedAtRest(mesh))
    await record('flood', () => voteFlood(mesh))
  } finally {
    await stopAll()
    await rm(fleet.dir, { recursive: true, force: true })
  }
  load.push(round(loadavg()[0]!))
  printTable(outcomes)
  const failed = outcomes.filter((o) => !o.rejected || o.badInstall)
  process.stdout.write(
    `${JSON.stringify({
      test: 'attacks',
      seconds: round((performance.now() - started) / 1000, 1),
      loadAverage: load,
      attacks: outcomes.length,
      notRejected: failed.map((o) => o.attack),
      badInstall: outcomes.some((o) => o.badInstall),
      outcomes,
    })}\n`,
  )
  return failed.length === 0 && outcomes.length > 0 ? 0 : 1
}

function printTable(outcomes: readonly Outcome[]): void {
  const rows = [
    ['attack', 'what was tried', 'outcome', 'rejected'],
    ...outcomes.map((o) => [o.attack, o.tried, o.outcome, o.rejected && !o.badInstall ? 'yes' : 'NO']),
  ]
  const cell = (s: string) => s.replaceAll('|', '\\|')
  const lines = rows.map((r) => `| ${r.map(cell).join(' | ')} |`)
  lines.splice(1, 0, '|---|---|---|---|')
  process.stdout.write(`${lines.join('\n')}\n`)
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`attacks: ${(error as Error).stack ?? error}\n`)
    process.exit(1)
  },
)
