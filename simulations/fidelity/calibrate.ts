/**
 * `npm run sim:calibrate [--runs 1]`: measures what the chunk protocol costs real processes'
 * CPU and writes it to simulations/fleet/cpu-costs.json, which the fleet simulator reads
 * (simulations/fleet/cpu.ts).
 *
 * - The cost per MiB, measured directly: the transport's (plain libp2p streams with the node's
 *   stack, the swarm benchmark's raw anchor) and SHA-256's (node:crypto, which checks every
 *   chunk), split between the sending and the receiving side.
 * - The idle share and the cost per message, fitted (fit-costs.ts): the swarm benchmark's
 *   rollouts (linkBound and cpuBound, scenarios.ts) run with real `fwmesh node` processes, and
 *   every node over the window from the approval's commit to the last completion, its CPU time
 *   (/proc) and its chunk-protocol counters (/metrics), is one equation.
 *
 * Prints the costs, their inputs and the fit's residual as JSON.
 */
import '../../src/polyfills.js'
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { runRawLibp2p } from '../../bench/anchors/raw-libp2p.js'
import { arg } from '../../bench/process.js'
import { CPU_COSTS_FILE } from '../fleet/cpu.js'
import { fitCosts, type Sample, sampleOf } from './fit-costs.js'
import { runRealRollout } from './real-fleet.js'
import { lowerBoundSecondsOf, SWARM_SCENARIOS, type SwarmScenarioName } from './scenarios.js'

const MiB = 1024 * 1024

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
  process.stderr.write('calibrate: plain libp2p streams and SHA-256, for the cost per MiB\n')
  const raw = await runRawLibp2p({ senders: RAW_STREAMS, bytesPerSender: RAW_BYTES_PER_STREAM })
  const rawMsPerMiB = (raw.cpuSecondsPerGiB * 1000) / 1024
  const shaMsPerMiB = sha256MsPerMiB()
  // Both are paid once per MiB moved, which the equations count twice (sent and received).
  const msPerMiB = (rawMsPerMiB + shaMsPerMiB) / 2
  const { costs, rmsMs } = fitCosts(samples, msPerMiB)
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
    perMiB: { rawLibp2pMsPerMiB: round(rawMsPerMiB), sha256MsPerMiB: round(shaMsPerMiB) },
    fit: { nodes: samples.length, rmsMs: round(rmsMs) },
    runs: measured,
  }
  await writeFile(CPU_COSTS_FILE, `${JSON.stringify(doc, null, 2)}\n`)
  process.stdout.write(`${JSON.stringify(doc)}\n`)
}

/** The raw anchor: four streams, 64 MiB each (the swarm benchmark's cpuBound moves 768 MiB). */
const RAW_STREAMS = 4
const RAW_BYTES_PER_STREAM = 64 * MiB
const SHA_SAMPLE_BYTES = 64 * MiB
const SHA_CHUNK_BYTES = 256 * 1024

/** CPU milliseconds node:crypto's SHA-256 takes per MiB, hashed in chunks as the node does. */
function sha256MsPerMiB(): number {
  const chunk = new Uint8Array(SHA_CHUNK_BYTES).fill(7)
  const before = process.cpuUsage()
  for (let done = 0; done < SHA_SAMPLE_BYTES; done += SHA_CHUNK_BYTES)
    createHash('sha256').update(chunk).digest()
  const used = process.cpuUsage(before)
  return (used.user + used.system) / 1000 / (SHA_SAMPLE_BYTES / MiB)
}

function round(x: number, digits = 3): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

main().catch((cause: unknown) => {
  process.stderr.write(`calibrate: ${(cause as Error).stack ?? String(cause)}\n`)
  process.exit(2)
})
