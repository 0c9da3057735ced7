/**
 * CPU time of a process from /proc (Linux), for the anchors' CPU seconds per GiB: every
 * anchor sums its own processes the same way, so their figures compare with fwmesh's.
 */
import { readFile } from 'node:fs/promises'

/**
 * Clock ticks per second of /proc/<pid>/stat's times (USER_HZ). The kernel's user ABI fixes
 * it at 100 on Linux, whatever CONFIG_HZ is; Node has no sysconf(_SC_CLK_TCK) to ask.
 */
export const CLOCK_TICKS_PER_SECOND = 100

/** Bytes in a GiB, the unit the anchors report CPU per. */
export const GiB = 2 ** 30

/**
 * utime + stime, in clock ticks, from the text of a /proc/<pid>/stat file. Field 2 is the
 * command name in parentheses and may itself hold spaces and parentheses, so the fields are
 * counted after the last ')': field 3 (state) comes first there, utime is field 14, stime 15.
 */
export function parseCpuTicks(stat: string): number {
  const close = stat.lastIndexOf(')')
  if (close < 0) throw new Error('not a /proc/<pid>/stat line: no ")" after the command name')
  const fields = stat
    .slice(close + 1)
    .trim()
    .split(/\s+/)
  // fields[0] is field 3 of the file, so field k sits at index k - 3.
  const utime = Number(fields[14 - 3])
  const stime = Number(fields[15 - 3])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('/proc/<pid>/stat too short')
  return utime + stime
}

/** The CPU seconds (user + system, every thread) a process has used so far. */
export async function cpuSecondsOf(pid: number): Promise<number> {
  return parseCpuTicks(await readFile(`/proc/${pid}/stat`, 'utf8')) / CLOCK_TICKS_PER_SECOND
}

/** The CPU seconds of several processes together, read at (nearly) the same moment. */
export async function totalCpuSeconds(pids: readonly number[]): Promise<number> {
  const each = await Promise.all(pids.map(cpuSecondsOf))
  return each.reduce((sum, s) => sum + s, 0)
}
