/**
 * The fleet simulator's model of CPU: what moving chunks costs a node's processor, so that a
 * simulated rollout slows where real processes do. Real nodes spend CPU per byte moved (noise
 * encryption, yamux framing, SHA-256, disk) and per chunk-protocol message (encoding, one
 * seal and frame each, the scheduler); on fast links that, not the link, bounds a rollout
 * (docs/performance.md). The costs come from real processes: `npm run sim:calibrate` runs the
 * swarm benchmark's rollouts, reads each node's CPU time and chunk-protocol counters, fits
 * the costs below and writes them to cpu-costs.json, which the simulator reads.
 *
 * Two ways a fleet's nodes get their CPU:
 * - `own` (a deployment): every node has a core of its own. A node's sending and receiving
 *   share it, so each direction of a busy node gets at most the rate the core moves both ways
 *   at once: its link rates are capped at that rate (no events of its own; message costs are
 *   small beside the bytes at the rates where the core binds).
 * - `shared` (the fidelity comparison): every node is a process of one machine with `cores`
 *   cores, as in `npm run sim:fidelity` and the swarm benchmark. Work waits for a core, first
 *   come first served; each process's idle load is taken off the machine first.
 */
import { readFileSync } from 'node:fs'
import { assert } from '../../src/codec/assert.js'

/** CPU costs of the chunk protocol on one machine, in milliseconds of one core. */
export interface CpuCosts {
  /** Per MiB of chunk-protocol bytes a node sends, and again per MiB it receives. */
  readonly msPerMiB: number
  /** Per chunk-protocol message a node sends, and again per message it receives. */
  readonly msPerMessage: number
  /** Share of a core each node process uses when idle (gossip, consensus, timers). */
  readonly idleCoreShare: number
}

export type CpuModel =
  | { readonly kind: 'own'; readonly costs: CpuCosts }
  | { readonly kind: 'shared'; readonly costs: CpuCosts; readonly cores: number; readonly processes: number }

/** Where `npm run sim:calibrate` writes the costs and the simulator reads them. */
export const CPU_COSTS_FILE = new URL('./cpu-costs.json', import.meta.url)

const MiB = 1024 * 1024

/** Reads the calibrated costs; a clear error if the file is missing or malformed. */
export function readCpuCosts(file: URL | string = CPU_COSTS_FILE): CpuCosts {
  let doc: unknown
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'))
  } catch (cause) {
    throw new Error(
      `cannot read the CPU costs ${String(file)}: ${(cause as Error).message}; run npm run sim:calibrate`,
    )
  }
  const costs = (doc as { costs?: Partial<CpuCosts> }).costs
  const ok = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0
  if (!costs || !ok(costs.msPerMiB) || !ok(costs.msPerMessage) || !ok(costs.idleCoreShare))
    throw new Error(`${String(file)} has no valid "costs" {msPerMiB, msPerMessage, idleCoreShare}`)
  return { msPerMiB: costs.msPerMiB!, msPerMessage: costs.msPerMessage!, idleCoreShare: costs.idleCoreShare! }
}

/** Milliseconds of CPU per byte moved in one direction. */
export function cpuMsPerByte(costs: CpuCosts): number {
  return costs.msPerMiB / MiB
}

/**
 * The machine of the `shared` model: `cores` cores serving work first come first served. Work
 * is taken when it is ready (the simulator asks at the event that makes it ready, so in time
 * order) and the answer is when it is done.
 */
export class SharedCpu {
  private readonly freeAt: Float64Array
  /** Work is stretched by this: the cores' time the idle processes do not use. */
  private readonly stretch: number

  constructor(
    cores: number,
    readonly costs: CpuCosts,
    processes: number,
  ) {
    assert(Number.isInteger(cores) && cores >= 1, 'a machine has at least one core')
    this.freeAt = new Float64Array(cores)
    const spare = cores - costs.idleCoreShare * processes
    assert(spare > 0, 'the idle processes leave some of the machine')
    this.stretch = cores / spare
  }

  /** Runs `ms` of work that is ready at `now`; returns when it is done. */
  run(now: number, ms: number): number {
    const f = this.freeAt
    let best = 0
    for (let i = 1; i < f.length; i++) if (f[i]! < f[best]!) best = i
    const done = Math.max(now, f[best]!) + ms * this.stretch
    f[best] = done
    return done
  }

  /** A chunk-protocol message sent or received at `now` (it is not delayed by it). */
  message(now: number): void {
    this.run(now, this.costs.msPerMessage)
  }

  /** A chunk of `bytes` sent or received at `now`: done when returned. */
  chunk(now: number, bytes: number): number {
    return this.run(now, this.costs.msPerMessage + bytes * cpuMsPerByte(this.costs))
  }
}
