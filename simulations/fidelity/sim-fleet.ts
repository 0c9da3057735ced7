/**
 * The simulated half of the fidelity comparison: the fleet simulator with the same capacities
 * as the real run (bandwidth.ts limits of the nodes), every link at loopback latency, and the
 * nodes sharing this machine's cores as the real processes do, at the CPU costs calibrated
 * from real processes (simulations/fleet/cpu-costs.json, `npm run sim:calibrate`).
 */
import { cpus } from 'node:os'
import { type CpuCosts, readCpuCosts } from '../fleet/cpu.js'
import { runFleetScenario } from '../scenarios/index.js'
import type { FidelityCapacities } from './real-fleet.js'

/** One-way latency of a loopback link between two processes, in milliseconds. */
const LOOPBACK_LATENCY_MS = 1

export interface SimulatedRolloutResult {
  /** Seconds from the approval's commit to each device holding the whole image, in device order. */
  readonly completionSeconds: number[]
  readonly originEgressCopies: number
}

export function runSimulatedRollout(
  c: FidelityCapacities,
  seed: number,
  costs: CpuCosts = readCpuCosts(),
): SimulatedRolloutResult {
  const run = runFleetScenario({
    scenario: 'rollout',
    devices: c.devices,
    imageBytes: c.imageBytes,
    seed,
    validators: c.validators,
    originUploadBitsPerSec: c.originUploadBps * 8,
    deviceUploadBitsPerSec: c.deviceUploadBps * 8,
    deviceDownloadBitsPerSec: c.deviceDownloadBps * 8,
    linkLatencyMs: LOOPBACK_LATENCY_MS,
    cpu: { kind: 'shared', costs, cores: cpus().length, processes: c.validators + c.devices },
  })
  return {
    completionSeconds: Array.from(run.completionSeconds),
    originEgressCopies: run.summary.originEgressCopies,
  }
}
