import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { HEAP_FLAGS } from '../../src/cli/heap-tuning.js'

/** V8's %GetOptimizationStatus bit for "runs optimized code" (Maglev or Turbofan). */
const OPTIMIZED = 1 << 4

/**
 * A hot function's optimization status in a fresh Node.js process that set `flags` first, as
 * heap-tuning.ts does; V8 is asked outright to optimize it.
 */
function statusOfHotFunction(flags: readonly string[]): number {
  const script = `
    const v8 = require('node:v8')
    for (const flag of ${JSON.stringify(flags)}) v8.setFlagsFromString(flag)
    function hot(x) { return x * 2 + 1 }
    // Each %-call starts with ';': after a line without one, % would read as modulo.
    ;%PrepareFunctionForOptimization(hot)
    let s = 0
    for (let i = 0; i < 1e5; i++) s += hot(i)
    ;%OptimizeFunctionOnNextCall(hot)
    hot(1)
    for (let i = 0; i < 1e6; i++) s += hot(i)
    process.stdout.write(String(%GetOptimizationStatus(hot)))
  `
  const run = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', script], { encoding: 'utf8' })
  expect(run.status, run.stderr).toBe(0)
  return Number(run.stdout)
}

describe('cli: heap tuning', () => {
  it('keeps Turbofan off: a hot function V8 is told to optimize stays unoptimized', () => {
    expect(statusOfHotFunction([]) & OPTIMIZED, 'without the flags V8 optimizes it').toBe(OPTIMIZED)
    expect(statusOfHotFunction(HEAP_FLAGS) & OPTIMIZED, 'with them it does not').toBe(0)
  })
})
