import { spawnSync } from 'node:child_process'
import { totalmem } from 'node:os'
import { getHeapStatistics, setFlagsFromString } from 'node:v8'

/**
 * How far the old generation may grow past what survived the last full collection before the
 * next one starts: 50 %. With Node's large default heap limit V8 lets it grow up to 4×, so a
 * 10,000-device run, whose live heap is ~360 MB, peaked at 1.9 GB RSS, mostly garbage waiting
 * for a collection.
 *
 * Measured (rollout, 64 MiB, seed 1, runs one at a time on this 2-core machine):
 * - 10,000 devices: V8's default 1,908–1,917 MiB peak RSS, 128–132 s; 50 %: 1,099–1,104 MiB,
 *   117–128 s; 25 %: 1,008–1,018 MiB, 121–123 s; 10 %: 935 MiB, 149 s.
 * - 3,000 devices pinned to one core (taskset): default 30.0 s, 50 % 32.5 s, 25 % 34.7 s.
 * More frequent marking is free on two cores because V8 marks concurrently on the other core,
 * and a smaller heap is kinder to the cache; on one core it costs ~8 % at 50 %.
 */
export const HEAP_GROWING_PERCENT = 50

/** Applies HEAP_GROWING_PERCENT to this process (V8 reads it at each full collection). */
export function limitHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
}

/**
 * A fleet run's heap grows with the fleet (up to ~200 KB per device at its peak: each
 * downloading device's scheduler, upload queue and agent, with V8's default heap growth;
 * HEAP_GROWING_PERCENT brought 10,000 devices to 1.1 GB RSS and 100,000 to 9,429 MiB, so the
 * estimate errs high, which is the safe side). Node's default heap limit (~4.3 GB on this
 * machine) ends a 100,000-device run with an out-of-memory crash, so a run that needs more
 * re-runs itself at once with a limit that fits.
 */
const HEAP_BYTES_PER_DEVICE = 200 * 1024
const HEAP_BYTES_BASE = 512 * 2 ** 20
/** Share of the machine's memory a run may ask V8 for. */
const HEAP_SHARE_OF_MEMORY_MAX = 0.9
/** Set in the re-run, so it never re-runs again. */
const HEAP_SET_ENV = 'FWMESH_SIM_HEAP_MB'

export function heapNeededMB(devices: number): number {
  return Math.ceil((HEAP_BYTES_BASE + devices * HEAP_BYTES_PER_DEVICE) / 2 ** 20)
}

/**
 * When `devices` needs a bigger heap than this process has, runs this same command again in a
 * child with `--max-old-space-size` and returns its exit code; undefined when this process
 * will do.
 */
export function rerunWithHeapFor(devices: number): number | undefined {
  const limitMB = getHeapStatistics().heap_size_limit / 2 ** 20
  const neededMB = heapNeededMB(devices)
  if (neededMB <= limitMB || process.env[HEAP_SET_ENV] !== undefined) return undefined
  const machineMB = Math.floor((totalmem() * HEAP_SHARE_OF_MEMORY_MAX) / 2 ** 20)
  const heapMB = Math.min(neededMB, machineMB)
  if (heapMB < neededMB) {
    process.stderr.write(
      `${devices} devices may need ~${(neededMB / 1024).toFixed(1)} GB of heap; this machine has ${(totalmem() / 2 ** 30).toFixed(1)} GB, so the run may stop short of memory\n`,
    )
  }
  if (heapMB <= limitMB) return undefined
  process.stderr.write(`${devices} devices: running again with a ${(heapMB / 1024).toFixed(1)} GB heap\n`)
  const child = spawnSync(
    process.execPath,
    [...process.execArgv, `--max-old-space-size=${heapMB}`, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, [HEAP_SET_ENV]: String(heapMB) } },
  )
  if (child.error) throw child.error
  return child.status ?? 1
}
