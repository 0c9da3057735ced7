import { CHUNK_BYTES_DEFAULT } from '../../src/constants.js'
import { type BandwidthClass, DSL, HETEROGENEOUS_MIX, ORIGIN_CLASS } from '../fleet/constants.js'
import type { DeviceCapacity, FleetOptions } from '../fleet/fleet.js'
import { distributionBounds } from '../report/bounds.js'

/** What every scenario is given: the fleet's size, the image and the seed. */
export interface ScenarioInput {
  readonly devices: number
  readonly imageBytes: number
  readonly seed: number
  readonly chunkBytes?: number
}

/** A named scenario: a description and the fleet options it runs. */
export interface Scenario {
  readonly name: string
  readonly description: string
  build(input: ScenarioInput): FleetOptions
}

export function capacityOf(cls: BandwidthClass): DeviceCapacity {
  return {
    uploadBitsPerSec: cls.upBitsPerSec,
    downloadBitsPerSec: cls.downBitsPerSec,
    accessMs: cls.accessMs,
    className: cls.name,
  }
}

/** Every device in one class (the homogeneous rollout: DSL, 50 down / 10 up). */
export function homogeneous(cls: BandwidthClass = DSL): (i: number) => DeviceCapacity {
  const c = capacityOf(cls)
  return () => c
}

/**
 * The heterogeneous mix (constants.ts HETEROGENEOUS_MIX), assigned by device index in a fixed
 * interleaving so that every prefix of the fleet has the mix's proportions.
 */
export function heterogeneous(): (i: number) => DeviceCapacity {
  const caps = HETEROGENEOUS_MIX.map((m) => ({ cap: capacityOf(m.cls), share: m.share }))
  return (i) => {
    // Low-discrepancy assignment: the fractional part of i·φ walks [0, 1) evenly.
    const u = (i * 0.6180339887498949) % 1
    let acc = 0
    for (const c of caps) {
      acc += c.share
      if (u < acc) return c.cap
    }
    return caps.at(-1)!.cap
  }
}

/** The options shared by all scenarios. */
export function baseOptions(input: ScenarioInput, capacity: (i: number) => DeviceCapacity): FleetOptions {
  return {
    seed: input.seed,
    devices: input.devices,
    imageBytes: input.imageBytes,
    chunkBytes: input.chunkBytes ?? CHUNK_BYTES_DEFAULT,
    validators: 4,
    originUploadBitsPerSec: ORIGIN_CLASS.upBitsPerSec,
    capacity,
  }
}

/** The lower bound of a fleet's distribution time in milliseconds (for timing faults). */
export function boundMs(options: FleetOptions): number {
  const peers = Array.from({ length: options.devices }, (_, i) => {
    const c = options.capacity(i)
    return { uploadBps: c.uploadBitsPerSec / 8, downloadBps: c.downloadBitsPerSec / 8 }
  })
  return (
    1000 *
    distributionBounds({
      fileBytes: options.imageBytes,
      seedUploadBps: options.originUploadBitsPerSec / 8,
      peers,
    }).lowerBoundSeconds
  )
}
