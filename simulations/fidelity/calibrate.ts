/**
 * `npm run sim:calibrate [--runs 1]`: measures what the chunk protocol costs real processes'
 * CPU and writes it to simulations/fleet/cpu-costs.json, which the fleet simulator reads
 * (simulations/fleet/cpu.ts).
 *
 * It runs the swarm benchmark's rollouts (linkBound and cpuBound, scenarios.ts) with real
 * `fwmesh node` processes and reads, for every node over the window from the approval's commit
 * to the last completion, its CPU time (/proc) and its chunk-protocol counters (/metrics). Each
 * node is one equation:
 *
 *   cpuMs = idleCoreShare × windowMs + msPerMiB × (MiB sent + MiB received)
 *         + msPerMessage × (messages sent + received)
 *
 * and the three costs are the least-squares fit over all nodes of all runs, none negative
 * (validators that move nothing pin the idle share, devices and the origin the rest).
 * Prints the costs and the fit's residual as JSON.
 */
import '../../src/polyfills.js'
import { writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { arg } from '../../bench/process.js'
import { CPU_COSTS_FILE } from '../fleet/cpu.js'
import { fitCosts, type Sample, sampleOf } from './fit-costs.js'
import { runRealRollout } from './real-fleet.js'
import { lowerBoundSecondsOf, SWARM_SCENARIOS, type SwarmScenarioName } from './scenarios.js'

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const runs = arg(args, 'runs', 1)
  const samples: Sample[] = []
  const measured: Record<string, unknown>[] = []
  for (const name of Object.keys(SWARM_SCENARIOS) as SwarmScenarioName[]) {
    const c = SWARM_SCENARIOS[name]
    const bound = lowerBoundSecondsOf(c)
    for (let run = 1; run <= runs; run++) {
      process.stderr.write(`calibrate: ${name}, run ${run} of ${runs}\n`)
      const real = await runRealRollout(c, `calibrate-${name}-${run}`, {
        deadlineMs: (10 * bound + 60) * 1000,
      })
      for (const node of real.nodes) samples.push(sampleOf(node, real.windowSeconds))
      measured.push({
        scenario: name,
        run,
        windowSeconds: round(real.windowSeconds),
        fleetCpuSeconds: round(real.fleetCpuSeconds),
        cpuBusy: round(real.cpuBusy),
      })
    }
  }
  const { costs, rmsMs } = fitCosts(samples)
  const doc = {
    about:
      'CPU costs of the chunk protocol measured on real fwmesh node processes; written by npm run sim:calibrate, read by the fleet simulator (simulations/fleet/cpu.ts)',
    measuredAt: new Date().toISOString(),
    machine: { cores: cpus().length, model: cpus()[0]?.model ?? 'unknown' },
    costs: {
      msPerMiB: round(costs.msPerMiB),
      msPerMessage: round(costs.msPerMessage),
      idleCoreShare: round(costs.idleCoreShare, 5),
    },
    fit: { nodes: samples.length, rmsMs: round(rmsMs) },
    runs: measured,
  }
  await writeFile(CPU_COSTS_FILE, `${JSON.stringify(doc, null, 2)}\n`)
  process.stdout.write(`${JSON.stringify(doc)}\n`)
}

function round(x: number, digits = 3): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

main().catch((cause: unknown) => {
  process.stderr.write(`calibrate: ${(cause as Error).stack ?? String(cause)}\n`)
  process.exit(2)
})
