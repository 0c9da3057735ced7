/**
 * `npm run sim:fidelity`: does the simulator predict what real processes do?
 *
 * One small scenario runs twice: in the fleet simulator, and as real `fwmesh node` processes
 * on 127.0.0.1 with every node's bandwidth limits set to the scenario's capacities. Both
 * measure, per device, the seconds from the release's approval being committed to the device
 * holding the whole verified image. The run passes when the real median and the real maximum
 * are each within ±25% of the simulated ones. Prints one JSON object; exit code 1 when outside.
 *
 * The capacities are low enough that bandwidth, not the CPU, bounds the real run: 20 node
 * processes share this machine's cores, and a CPU-bound run would measure the machine. The
 * output says which it was: `realCpuBusy` is the machine's busy fraction during the real
 * rollout (near 1: the processes queued for the CPU, and the comparison is void).
 */
import '../../src/polyfills.js'
import { distributionBounds } from '../report/bounds.js'
import { type FidelityCapacities, runRealRollout } from './real-fleet.js'
import { runSimulatedRollout } from './sim-fleet.js'

const MiB = 1024 * 1024

/**
 * The scenario: 16 devices, a publisher's uplink twice a device's, DSL-like asymmetry.
 *
 * The rates are a quarter of the first choice (origin 2 MiB/s, devices 1 up / 4 down), because
 * at those the CPU, not the links, bound the real run on a 2-core machine (seed 1 unless noted):
 *
 * | origin / device up / down, MiB/s | sim p50 / max, s | real p50 / max, s | deviation   | CPU busy |
 * |----------------------------------|------------------|-------------------|-------------|----------|
 * | 2 / 1 / 4                        | 9.49 / 10.11     | 13.80 / 14.27     | +45% / +41% | 0.99     |
 * | 1 / 0.5 / 2                      | 17.72 / 19.61    | 22.13 / 22.55     | +25% / +15% | 0.90     |
 * | 0.5 / 0.25 / 1                   | 34.36 / 36.11    | 34.79 / 36.13     | +1% / 0%    | 0.66     |
 * | 0.5 / 0.25 / 1, seed 2           | 35.11 / 38.61    | 34.22 / 37.01     | -3% / -4%   | 0.67     |
 *
 * At 2/1/4 vmstat showed no idle CPU from before the approval to the end (run queue 25-40),
 * every process got the same ~0.1 core (validators 1-3, which transfer nothing, included),
 * and CPU profiling of the nodes alone stretched the real p50 from ~14 s to 20 s at unchanged
 * limits. An idle fleet of these 20 processes already keeps 0.3-0.9 of the 2 cores busy
 * (consensus, gossipsub's signed messages, noise and yamux; see the commit that set these rates).
 */
export const FIDELITY_SCENARIO: FidelityCapacities = {
  devices: 16,
  validators: 4,
  imageBytes: 8 * MiB,
  originUploadBps: MiB / 2,
  deviceUploadBps: MiB / 4,
  deviceDownloadBps: MiB,
}

/** How far apart the two may be: the issue's ±25%. */
export const FIDELITY_TOLERANCE = 0.25

interface Summary {
  p50: number
  max: number
}

function summary(seconds: readonly number[]): Summary {
  const sorted = [...seconds].sort((a, b) => a - b)
  return { p50: round(sorted[Math.floor((sorted.length - 1) / 2)]!), max: round(sorted[sorted.length - 1]!) }
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}

async function main(): Promise<number> {
  const seed = Number(process.argv[2] ?? 1)
  const c = FIDELITY_SCENARIO
  process.stderr.write(`fidelity: seed ${seed}; ${c.devices} devices, ${c.imageBytes / MiB} MiB\n`)
  const bounds = distributionBounds({
    fileBytes: c.imageBytes,
    seedUploadBps: c.originUploadBps,
    peers: Array.from({ length: c.devices }, () => ({
      uploadBps: c.deviceUploadBps,
      downloadBps: c.deviceDownloadBps,
    })),
  })
  const simulated = runSimulatedRollout(c, seed)
  process.stderr.write('fidelity: the simulated run is done; starting real processes\n')
  // FWMESH_FIDELITY_KEEP=1 keeps the fleet's data directories and per-node logs to read.
  const real = await runRealRollout(c, `fidelity-${seed}`, {
    keepDir: process.env.FWMESH_FIDELITY_KEEP === '1',
  })
  const sim = summary(simulated.completionSeconds)
  const finished = real.completionSeconds.filter((t) => t !== null)
  const stuckDevices = real.completionSeconds.length - finished.length
  if (finished.length === 0) throw new Error('no device finished the real rollout')
  const measured = summary(finished)
  const deviation = {
    p50: round(measured.p50 / sim.p50 - 1),
    max: round(measured.max / sim.max - 1),
  }
  const within =
    stuckDevices === 0 &&
    Math.abs(deviation.p50) <= FIDELITY_TOLERANCE &&
    Math.abs(deviation.max) <= FIDELITY_TOLERANCE
  process.stdout.write(
    `${JSON.stringify({
      scenario: {
        ...c,
        imageMiB: c.imageBytes / MiB,
        originUploadMiBps: c.originUploadBps / MiB,
        deviceUploadMiBps: c.deviceUploadBps / MiB,
        deviceDownloadMiBps: c.deviceDownloadBps / MiB,
      },
      seed,
      lowerBoundSeconds: round(bounds.lowerBoundSeconds),
      clientServerSeconds: round(bounds.clientServerSeconds),
      simulatedSeconds: sim,
      realSeconds: measured,
      stuckDevices,
      deviation,
      tolerance: FIDELITY_TOLERANCE,
      within,
      realCpuBusy: round(real.cpuBusy),
      realLoadAverage: round(real.loadAverage),
      originEgressCopies: {
        simulated: round(simulated.originEgressCopies),
        real: round(real.originEgressCopies),
      },
    })}\n`,
  )
  return within ? 0 : 1
}

main().then(
  (code) => process.exit(code),
  (cause: unknown) => {
    process.stderr.write(`fidelity: ${(cause as Error).stack ?? String(cause)}\n`)
    process.exit(2)
  },
)
