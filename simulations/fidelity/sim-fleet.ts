/**
 * The simulated half of the fidelity comparison: the fleet simulator with the same capacities
 * as the real run (bandwidth.ts limits of the nodes), every link at loopback latency.
 */
import { runFleetScenario } from '../scenarios/index.js'
import type { FidelityCapacities } from './real-fleet.js'

/** One-way latency of a loopback link between two processes, in milliseconds. */
const LOOPBACK_LATENCY_MS = 1

export interface SimulatedRolloutResult {
  /** Seconds from the approval's commit to each device holding the whole image, in device order. */
  readonly completionSeconds: number[]
  readonly originEgressCopies: number
}

export function runSimulatedRollout(c: FidelityCapacities, seed: number): SimulatedRolloutResult {
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
  })
  return {
    completionSeconds: Array.from(run.completionSeconds),
    originEgressCopies: run.summary.originEgressCopies,
  }
}
