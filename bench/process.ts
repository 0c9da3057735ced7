/**
 * What the process benchmarks (node.ts, download.ts) share: their numeric flags, and the memory
 * of a process read from /proc (Linux) beside a bare Node.js process measured the same way.
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'

/** `--name value` as a number, or `fallback` when absent. */
export function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}

/** Resident and peak resident memory of a process, from /proc (Linux). */
export async function memoryOf(pid: number): Promise<{ rssMB: number; peakMB: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0)
  return { rssMB: kb('VmRSS') / 1024, peakMB: kb('VmHWM') / 1024 }
}

/** A bare Node.js process, idle, measured the same way: the floor under any node's RSS. */
export async function baselineNodeRss(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
  await new Promise((r) => setTimeout(r, 1000))
  const { rssMB } = await memoryOf(child.pid!)
  child.kill()
  return rssMB
}
