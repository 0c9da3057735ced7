import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { codeOf, ROOT, tsFilesUnder } from './sources.js'

/**
 * One clock (issue 22): src/node/clock.ts is the only file in src/ that reads the time. The
 * node's drivers and services take a `Clock` from `Node.start` (so a test or a harness can run
 * a node on a fake clock), the CLI imports the module's clocks, and the cores take the time as
 * an argument. This test reads every .ts file under src/ and names each file that reads the
 * wall clock (`Date.now`, `new Date()` without a time, `Date()`) or a monotonic one
 * (`performance.now`, `process.hrtime`) anywhere else. `new Date(ms)`, which formats a given
 * time, reads no clock and passes.
 */

const CLOCK_MODULE = 'src/node/clock.ts'

/** Ways to read the time, each with what the fault message calls it. */
const CLOCK_READS: readonly { readonly pattern: RegExp; readonly what: string }[] = [
  // Called or passed along (`now: Date.now`): either way the time is read outside the clock.
  { pattern: /\bDate\s*\.\s*now\b/, what: 'Date.now' },
  // `new Date()` and `new Date` read the clock; `new Date(ms)` does not.
  { pattern: /\bnew\s+Date\b(?!\s*\(\s*[^\s)])/, what: 'new Date()' },
  // `Date()` without `new` returns the current time as a string.
  { pattern: /(?<!\bnew\s+)\bDate\s*\(/, what: 'Date()' },
  { pattern: /\bperformance\s*\.\s*now\b/, what: 'performance.now' },
  { pattern: /\bprocess\s*\.\s*hrtime\b/, what: 'process.hrtime' },
]

/** The clock reads in one source file, each as `<file>: reads the clock with <what>`. */
function clockReadsOf(file: string, source: string): string[] {
  const code = codeOf(source)
  return CLOCK_READS.filter((read) => read.pattern.test(code)).map(
    (read) => `${file}: reads the clock with ${read.what}`,
  )
}

describe('architecture: one clock', () => {
  const files = tsFilesUnder('src')
  const readsOf = (file: string) => clockReadsOf(file, readFileSync(join(ROOT, file), 'utf8'))

  it('the clock module reads the wall clock and the monotonic clock (so the check below sees real reads)', () => {
    expect(readsOf(CLOCK_MODULE)).toEqual([
      `${CLOCK_MODULE}: reads the clock with Date.now`,
      `${CLOCK_MODULE}: reads the clock with performance.now`,
    ])
  })

  it('no other file in src/ reads the clock', () => {
    expect(files.length, 'src/ has .ts files').toBeGreaterThan(50)
    expect(files.filter((file) => file !== CLOCK_MODULE).flatMap(readsOf)).toEqual([])
  })
})

describe('architecture: the clock check', () => {
  const file = 'src/node/example.ts'
  const cases: readonly { readonly source: string; readonly what: string }[] = [
    { source: 'const now = Date.now()', what: 'Date.now' },
    { source: 'const clock = { now: Date.now }', what: 'Date.now' },
    { source: 'const now = Date . now ()', what: 'Date.now' },
    { source: 'const today = new Date()', what: 'new Date()' },
    { source: 'const today = new Date', what: 'new Date()' },
    { source: 'const today = new Date( )', what: 'new Date()' },
    { source: 'const text = Date()', what: 'Date()' },
    { source: 'const t = performance.now()', what: 'performance.now' },
    { source: 'const t = process.hrtime.bigint()', what: 'process.hrtime' },
  ]

  it.each(cases)('names the file and the read in: $source', ({ source, what }) => {
    expect(clockReadsOf(file, `${source}\nexport const x = 1\n`)).toEqual([
      `${file}: reads the clock with ${what}`,
    ])
  })

  it('lets pass a time taken from a clock, a Date built from a time, Date.parse, and comments', () => {
    const source = [
      "import { systemClock } from './clock.js'",
      '/** Stamps with the clock (never Date.now() or new Date() here). */',
      'export function stamp(at = systemClock.now()): string {',
      '  // new Date() would read the clock; new Date(at) formats the time given',
      '  return new Date(at).toISOString() + new Date(Date.parse("2026-01-01")).getTime()',
      '}',
      'export const updatedAt = (row: { updateDate(): number }) => row.updateDate()',
    ].join('\n')
    expect(clockReadsOf(file, source)).toEqual([])
  })
})
