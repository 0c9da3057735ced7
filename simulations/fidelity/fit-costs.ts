/**
 * The fit behind `npm run sim:calibrate` (calibrate.ts): CPU costs of the chunk protocol from
 * what real nodes did. Each node over a rollout's window is one equation,
 *
 *   cpuMs = idleCoreShare × windowMs + msPerMiB × (MiB sent + MiB received)
 *         + msPerMessage × (messages sent + received),
 *
 * and the costs are the least-squares solution with none negative.
 */
import type { CpuCosts } from '../fleet/cpu.js'
import type { NodeWork } from './real-fleet.js'

const MiB = 1024 * 1024

/** One node of one run: the equation's inputs and its measured CPU. */
export interface Sample {
  readonly windowMs: number
  readonly mib: number
  readonly messages: number
  readonly cpuMs: number
}

export function sampleOf(node: NodeWork, windowSeconds: number): Sample {
  return {
    windowMs: windowSeconds * 1000,
    mib: (node.bytesSent + node.bytesReceived) / MiB,
    messages: node.messagesSent + node.messagesReceived,
    cpuMs: node.cpuSeconds * 1000,
  }
}

/**
 * Least squares for cpuMs ≈ idle·windowMs + perMiB·mib + perMessage·messages with every cost
 * ≥ 0: the unconstrained fit, then, while a cost comes out negative, that cost fixed at 0 and
 * the others fitted again. `fixedMsPerMiB` fixes the cost per MiB instead of fitting it: on a
 * swarm's nodes MiB and messages grow together (a chunk comes with its request and its
 * have-updates), so the data alone cannot split them (a real run fitted 0 ms per MiB); the
 * calibration measures it directly (calibrate.ts).
 */
export function fitCosts(
  samples: readonly Sample[],
  fixedMsPerMiB?: number,
): { costs: CpuCosts; rmsMs: number } {
  const columns = [(s: Sample) => s.windowMs, (s: Sample) => s.mib, (s: Sample) => s.messages]
  const fixed = fixedMsPerMiB ?? 0
  const target = (s: Sample) => s.cpuMs - fixed * s.mib
  const free = [true, fixedMsPerMiB === undefined, true]
  let x = [0, fixed, 0]
  for (let round = 0; round < columns.length; round++) {
    const fitted = solveFree(samples, columns, free, target)
    x = fitted.map((v, i) => (free[i] ? v : i === 1 ? fixed : 0))
    const negative = x.findIndex((v, i) => free[i] && v < 0)
    if (negative < 0) break
    free[negative] = false
    x[negative] = 0
  }
  let sq = 0
  for (const s of samples) {
    const predicted = x[0]! * s.windowMs + x[1]! * s.mib + x[2]! * s.messages
    sq += (predicted - s.cpuMs) ** 2
  }
  return {
    costs: { idleCoreShare: x[0]!, msPerMiB: x[1]!, msPerMessage: x[2]! },
    rmsMs: Math.sqrt(sq / Math.max(1, samples.length)),
  }
}

/** Normal equations over the free columns, by Gaussian elimination; fixed columns are 0. */
function solveFree(
  samples: readonly Sample[],
  columns: ReadonlyArray<(s: Sample) => number>,
  free: readonly boolean[],
  target: (s: Sample) => number,
): number[] {
  const idx = columns.map((_, i) => i).filter((i) => free[i])
  const k = idx.length
  const a = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0))
  for (const s of samples) {
    const row = idx.map((i) => columns[i]!(s))
    for (let r = 0; r < k; r++) {
      for (let c = 0; c < k; c++) a[r]![c]! += row[r]! * row[c]!
      a[r]![k]! += row[r]! * target(s)
    }
  }
  for (let col = 0; col < k; col++) {
    let pivot = col
    for (let r = col + 1; r < k; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r
    ;[a[col], a[pivot]] = [a[pivot]!, a[col]!]
    const p = a[col]![col]!
    if (Math.abs(p) < 1e-12) throw new Error('the calibration samples do not determine the costs')
    for (let r = 0; r < k; r++) {
      if (r === col) continue
      const f = a[r]![col]! / p
      for (let c = col; c <= k; c++) a[r]![c]! -= f * a[col]![c]!
    }
  }
  const x = [0, 0, 0]
  idx.forEach((i, r) => {
    x[i] = a[r]![k]! / a[r]![r]!
  })
  return x
}
