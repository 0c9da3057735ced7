/**
 * CPU time of a process from /proc (Linux): what the benchmarks charge a fleet of processes
 * for the bytes it moves, the same way for fwmesh and for the anchors beside it.
 */
import { readFile } from 'node:fs/promises'

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on every Linux this runs on). */
const USER_HZ = 100

/**
 * User plus system CPU seconds of a `/proc/<pid>/stat` line: fields 14 and 15, counted after
 * the command name, which is in parentheses and may itself hold spaces and parentheses.
 */
export function cpuSecondsOfStat(stat: string): number {
  const close = stat.lastIndexOf(')')
  if (close < 0) throw new Error('not a /proc/<pid>/stat line')
  // After ") " come field 3 (state) onwards; utime and stime are fields 14 and 15.
  const fields = stat.slice(close + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('no CPU times in the stat line')
  return (utime + stime) / USER_HZ
}

/** CPU seconds a live process has used so far; 0 for one that has already exited. */
export async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null)
  return stat === null ? 0 : cpuSecondsOfStat(stat)
}

/** The summed CPU seconds of several processes. */
export async function totalCpuSeconds(pids: readonly number[]): Promise<number> {
  const each = await Promise.all(pids.map(processCpuSeconds))
  return each.reduce((a, b) => a + b, 0)
}
