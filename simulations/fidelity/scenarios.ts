/**
 * The two rollouts real processes and the simulator are compared on (the swarm benchmark,
 * `npm run sim:calibrate` and `npm run sim:fidelity` share them): one bound by the links, one
 * by the CPU of a 2-core machine, each node rate-limited by its own config.
 */
import { distributionBounds } from '../report/bounds.js'
import type { FidelityCapacities } from './real-fleet.js'

const KiB = 1024
const MiB = 1024 * KiB

export type SwarmScenarioName = 'linkBound' | 'cpuBound'

export const SWARM_SCENARIOS: Readonly<Record<SwarmScenarioName, FidelityCapacities>> = {
  linkBound: {
    devices: 16,
    validators: 4,
    imageBytes: 8 * MiB,
    originUploadBps: 512 * KiB,
    deviceUploadBps: 256 * KiB,
    deviceDownloadBps: 1 * MiB,
  },
  cpuBound: {
    devices: 12,
    validators: 4,
    imageBytes: 64 * MiB,
    originUploadBps: 8 * MiB,
    deviceUploadBps: 8 * MiB,
    deviceDownloadBps: 8 * MiB,
  },
}

/** The Kumar–Ross lower bound on a scenario's distribution time from one seed, in seconds. */
export function lowerBoundSecondsOf(c: FidelityCapacities): number {
  return distributionBounds({
    fileBytes: c.imageBytes,
    seedUploadBps: c.originUploadBps,
    peers: Array.from({ length: c.devices }, () => ({
      uploadBps: c.deviceUploadBps,
      downloadBps: c.deviceDownloadBps,
    })),
  }).lowerBoundSeconds
}
