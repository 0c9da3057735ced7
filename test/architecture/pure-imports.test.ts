import { readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { codeOf, ROOT, tsFilesUnder } from './sources.js'

/**
 * The cores are pure (docs/architecture.md, "Folders"): nothing in these folders touches the
 * file system, LevelDB, the network or child processes, sets a timer, reads the clock or draws
 * unseeded randomness. Time and a seeded PRNG come in as arguments and storage through
 * interfaces (src/ledger/ledger-store.ts, src/transfer/chunk-store.ts) whose implementations
 * live in src/node/store/. This test reads every .ts file under the pure folders and names each
 * file and import or call that breaks the rule.
 *
 * No pure file reads the clock or sets a timer today, so there is no allowlist: a file that
 * needs the time takes it as an argument.
 */

const PURE_FOLDERS = ['src/codec', 'src/crypto', 'src/ledger', 'src/consensus', 'src/transfer', 'src/agent']
/** Files beside the folders that every core imports: I/O in them would reach every core. */
const SHARED_PURE_FILES = ['src/constants.ts', 'src/prng.ts']

/** Modules that do I/O (node: prefix or not, and their subpaths), with what they would bring in. */
const IO_MODULES: readonly { readonly name: string; readonly what: string }[] = [
  { name: 'fs', what: 'the file system' },
  { name: 'child_process', what: 'child processes' },
  { name: 'net', what: 'the network' },
  { name: 'dgram', what: 'the network' },
  { name: 'http', what: 'the network' },
  { name: 'https', what: 'the network' },
  { name: 'http2', what: 'the network' },
  { name: 'tls', what: 'the network' },
  { name: 'timers', what: 'timers' },
  { name: 'level', what: 'LevelDB' },
  { name: 'classic-level', what: 'LevelDB' },
  { name: 'libp2p', what: 'libp2p' },
  { name: '@libp2p', what: 'libp2p' },
  { name: '@chainsafe', what: 'libp2p' },
]

/** Folders of src/ that hold the I/O: a pure file importing from them would bring it in. */
const IO_FOLDERS = ['src/node/', 'src/cli/']

/** Calls that read the clock, set a timer or draw randomness the simulator cannot replay. */
const IMPURE_CALLS: readonly { readonly pattern: RegExp; readonly what: string }[] = [
  { pattern: /\bsetTimeout\s*\(/, what: 'setTimeout' },
  { pattern: /\bsetInterval\s*\(/, what: 'setInterval' },
  { pattern: /\bsetImmediate\s*\(/, what: 'setImmediate' },
  { pattern: /\bDate\.now\s*\(/, what: 'Date.now()' },
  // A Date built from a given time (to format it) reads no clock; one built from nothing does.
  { pattern: /\bnew\s+Date\s*\(\s*\)/, what: 'new Date()' },
  { pattern: /\bperformance\.now\s*\(/, what: 'performance.now()' },
  { pattern: /\bprocess\.hrtime\b/, what: 'process.hrtime' },
  { pattern: /\bMath\.random\s*\(/, what: 'Math.random()' },
]

/** Static imports and re-exports (`import type` too: a pure file should not know those types). */
const STATIC_IMPORT = /^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/gm
const SIDE_EFFECT_IMPORT = /^\s*import\s*['"]([^'"]+)['"]/gm
const DYNAMIC_IMPORT = /\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]/g

/** Why importing `spec` from `file` (relative to the root) breaks the rule, or undefined. */
function importFault(file: string, spec: string): string | undefined {
  if (spec.startsWith('.')) {
    const target = relative(ROOT, resolve(ROOT, dirname(file), spec))
      .split('\\')
      .join('/')
    if (!target.startsWith('src/')) return `reaches outside src/ (${target})`
    const io = IO_FOLDERS.find((folder) => target.startsWith(folder))
    return io ? `reaches into ${io}, where the I/O lives` : undefined
  }
  const name = spec.replace(/^node:/, '')
  const io = IO_MODULES.find((m) => name === m.name || name.startsWith(`${m.name}/`))
  return io ? `brings in ${io.what}` : undefined
}

/** The faults of one source file, each as `<file>: <what>`. */
function faultsOf(file: string, source: string): string[] {
  const faults: string[] = []
  // Static imports are read from the source, so `import type` counts too; a comment line
  // starts with `*` or `//` and never matches.
  const specs = [...source.matchAll(STATIC_IMPORT), ...source.matchAll(SIDE_EFFECT_IMPORT)].map((m) => m[1]!)
  // esbuild drops comments (and type-only imports): a comment naming a call is no fault.
  const code = codeOf(source)
  specs.push(...[...code.matchAll(DYNAMIC_IMPORT)].map((m) => m[1]!))
  for (const spec of specs) {
    const why = importFault(file, spec)
    if (why) faults.push(`${file}: imports '${spec}' (${why})`)
  }
  for (const call of IMPURE_CALLS) {
    if (call.pattern.test(code)) faults.push(`${file}: calls ${call.what}`)
  }
  return faults
}

describe('architecture: pure folders', () => {
  const files = [...PURE_FOLDERS.flatMap(tsFilesUnder), ...SHARED_PURE_FILES]
  let checked: string[] | undefined
  const faults = () => {
    checked ??= files.flatMap((file) => faultsOf(file, readFileSync(join(ROOT, file), 'utf8')))
    return checked
  }

  it('hold the cores (every pure folder has source files to check)', () => {
    for (const folder of PURE_FOLDERS) {
      expect(
        files.some((f) => f.startsWith(`${folder}/`)),
        `${folder} has .ts files`,
      ).toBe(true)
    }
  })

  it('import no file system, LevelDB, libp2p, network, child process or timer module, and nothing from src/node or src/cli', () => {
    expect(faults().filter((f) => f.includes(': imports '))).toEqual([])
  })

  it('never set a timer, read the clock or call Math.random', () => {
    expect(faults().filter((f) => f.includes(': calls '))).toEqual([])
  })
})

describe('architecture: the pure-folder check', () => {
  const file = 'src/ledger/example.ts'
  const cases: readonly { readonly source: string; readonly fault: string }[] = [
    { source: "import { readFile } from 'node:fs/promises'", fault: "imports 'node:fs/promises'" },
    { source: "import { readFileSync } from 'fs'", fault: "imports 'fs'" },
    { source: "import { Level } from 'level'", fault: "imports 'level'" },
    { source: "import type { ClassicLevel } from 'classic-level'", fault: "imports 'classic-level'" },
    { source: "import { createLibp2p } from 'libp2p'", fault: "imports 'libp2p'" },
    { source: "export { tcp } from '@libp2p/tcp'", fault: "imports '@libp2p/tcp'" },
    {
      source: "import {\n  noise,\n} from '@chainsafe/libp2p-noise'",
      fault: "imports '@chainsafe/libp2p-noise'",
    },
    { source: "import { spawn } from 'node:child_process'", fault: "imports 'node:child_process'" },
    { source: "import { connect } from 'node:net'", fault: "imports 'node:net'" },
    { source: "import { setTimeout } from 'node:timers/promises'", fault: "imports 'node:timers/promises'" },
    { source: "const fs = await import('node:fs')", fault: "imports 'node:fs'" },
    { source: "import { Node } from '../node/daemon.js'", fault: "imports '../node/daemon.js'" },
    {
      source: "import { Fleet } from '../../simulations/fleet/fleet.js'",
      fault: "imports '../../simulations/fleet/fleet.js' (reaches outside src/",
    },
    { source: 'setTimeout(() => undefined, 10)', fault: 'calls setTimeout' },
    { source: 'const t = setInterval(tick, 10)', fault: 'calls setInterval' },
    { source: 'setImmediate(run)', fault: 'calls setImmediate' },
    { source: 'const now = Date.now()', fault: 'calls Date.now()' },
    { source: 'const now = new Date()', fault: 'calls new Date()' },
    { source: 'const t = performance.now()', fault: 'calls performance.now()' },
    { source: 'const r = Math.random()', fault: 'calls Math.random()' },
  ]

  it.each(cases)('names the file and the fault in: $source', ({ source, fault }) => {
    expect(faultsOf(file, `${source}\nexport const x = 1\n`)).toEqual([
      expect.stringContaining(`${file}: ${fault}`),
    ])
  })

  it('lets pass what is pure: node:crypto, the constants, a time taken as an argument, comments', () => {
    const source = [
      "import { createHash } from 'node:crypto'",
      "import { CHUNK_BYTES_MAX } from '../constants.js'",
      "import { toHex } from '../codec/bytes.js'",
      '/** The driver passes `now` (it would come from Date.now() or a virtual clock). */',
      'export function stamp(now: number): string {',
      '  // never setTimeout(...) here: the driver owns timers',
      '  return toHex(createHash("sha256").update(new Date(now).toISOString()).digest()) + CHUNK_BYTES_MAX',
      '}',
    ].join('\n')
    expect(faultsOf(file, source)).toEqual([])
  })
})
