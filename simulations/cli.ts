/**
 * `npm run sim -- <simulation> [options]`: seeded simulations from the command line.
 *
 *   consensus --validators 4 --byzantine <behaviour|mixed|none> --seeds 500 [--first 1] [--json]
 *   consensus --validators 7 --byzantine mixed --seed 123 [--trace]     (replay one seed)
 *   soak [--seeds 2000] [--first 1000|random]                           (npm run test:soak)
 *   rollout --devices 10000 --image-mib 64 --seed 1 [--scenario <name>] [--json] [--report out.html]
 *
 * `rollout` runs the fleet simulator (simulations/fleet, scenarios in simulations/scenarios)
 * and prints one JSON object; see ROLLOUT_HELP for what its fields mean.
 *
 * Every run prints its seed (or first seed) before anything else, on stderr, so stdout stays
 * one JSON object with --json. The exit code is 1 when any seed broke an invariant, and the
 * command that replays the first failing seed is printed.
 */
import '../src/polyfills.js'
import { randomInt } from 'node:crypto'
import { BEHAVIOURS } from './consensus/byzantine.js'
import { type ByzantineMode, type ConsensusRunResult, runConsensusSeed } from './consensus/run.js'
import { rolloutCommand } from './rollout-cli.js'

interface Summary {
  seeds: number
  runs: number
  forks: number
  livenessFailures: number
  maxCommitLatencyMs: number
  failingSeeds: number[]
}

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: npm run sim -- consensus --validators <n> --byzantine <${[...BEHAVIOURS, 'mixed', 'none'].join('|')}> (--seeds <count> [--first <seed>] | --seed <seed> [--trace]) [--json]\n       npm run sim -- soak [--seeds <count>] [--first <seed>|random]\n       npm run sim -- rollout --devices <n> --image-mib <m> --seed <s> [--scenario <name>] [--json] [--report <file.html>] (--help for the fields)\n`,
  )
  process.exit(2)
}

function parseArgs(args: string[]): Map<string, string> {
  const out = new Map<string, string>()
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (!a.startsWith('--')) usage(`unexpected argument "${a}"`)
    const key = a.slice(2)
    const next = args[i + 1]
    if (next === undefined || next.startsWith('--')) out.set(key, 'true')
    else {
      out.set(key, next)
      i++
    }
  }
  return out
}

function int(opts: Map<string, string>, key: string, fallback: number, min = 1): number {
  const raw = opts.get(key)
  if (raw === undefined) return fallback
  const v = Number(raw)
  if (!Number.isSafeInteger(v) || v < min) usage(`--${key} must be a whole number ≥ ${min}`)
  return v
}

function replayCommand(validators: number, byzantine: ByzantineMode, seed: number): string {
  return `npm run sim -- consensus --validators ${validators} --byzantine ${byzantine} --seed ${seed} --trace`
}

function failed(r: ConsensusRunResult): boolean {
  return r.forks > 0 || r.livenessFailures > 0 || r.violations.length > 0
}

/** Runs `count` seeds from `first`; reports failures on stderr as they happen. */
function runSeeds(
  validators: number,
  byzantine: ByzantineMode,
  first: number,
  count: number,
  quiet: boolean,
): Summary {
  const summary: Summary = {
    seeds: count,
    runs: 0,
    forks: 0,
    livenessFailures: 0,
    maxCommitLatencyMs: 0,
    failingSeeds: [],
  }
  for (let seed = first; seed < first + count; seed++) {
    const r = runConsensusSeed({ seed, validators, byzantine })
    summary.runs++
    summary.forks += r.forks
    summary.livenessFailures += r.livenessFailures
    summary.maxCommitLatencyMs = Math.max(summary.maxCommitLatencyMs, r.maxCommitLatencyMs)
    if (failed(r)) {
      summary.failingSeeds.push(seed)
      process.stderr.write(
        `seed ${seed} FAILED: ${JSON.stringify({ faulty: r.faulty, forks: r.forks, livenessFailures: r.livenessFailures, violations: r.violations.slice(0, 3) })}\n`,
      )
    } else if (!quiet && (seed - first + 1) % 100 === 0) {
      process.stderr.write(`  ${seed - first + 1}/${count} seeds ok\n`)
    }
  }
  return summary
}

function consensus(opts: Map<string, string>): number {
  const validators = int(opts, 'validators', 4)
  if (validators < 4 || validators > 64) usage('--validators must be from 4 to 64')
  const byzantine = (opts.get('byzantine') ?? 'mixed') as ByzantineMode
  if (![...BEHAVIOURS, 'mixed', 'none'].includes(byzantine)) usage(`unknown behaviour "${byzantine}"`)
  const json = opts.has('json')
  if (opts.has('seed')) {
    const seed = int(opts, 'seed', 1, 0)
    process.stderr.write(`seed ${seed}\n`)
    const trace = opts.has('trace') ? (line: string) => process.stderr.write(`${line}\n`) : undefined
    const r = runConsensusSeed({ seed, validators, byzantine, ...(trace ? { trace } : {}) })
    process.stdout.write(`${JSON.stringify(r, null, json ? 0 : 2)}\n`)
    return failed(r) ? 1 : 0
  }
  const count = int(opts, 'seeds', 100)
  const first = opts.get('first') === 'random' ? randomInt(1, 2 ** 31) : int(opts, 'first', 1, 0)
  process.stderr.write(`first seed ${first} (${count} seeds, n=${validators}, ${byzantine})\n`)
  const summary = runSeeds(validators, byzantine, first, count, json)
  process.stdout.write(`${JSON.stringify(summary, null, json ? 0 : 2)}\n`)
  const firstFailure = summary.failingSeeds[0]
  if (firstFailure !== undefined) {
    process.stderr.write(
      `replay the first failing seed with:\n  ${replayCommand(validators, byzantine, firstFailure)}\n`,
    )
    return 1
  }
  return 0
}

/** Thousands of seeds: mixed faults for n=4 and n=7, then each behaviour alone. */
function soak(opts: Map<string, string>): number {
  const count = int(opts, 'seeds', 2000)
  const first = opts.get('first') === 'random' ? randomInt(1, 2 ** 31) : int(opts, 'first', 1000, 0)
  process.stderr.write(`soak: first seed ${first}, ${count} seeds per committee size in mixed mode\n`)
  let failures = 0
  const plans: [number, ByzantineMode, number][] = []
  for (const n of [4, 7]) {
    plans.push([n, 'mixed', count])
    for (const b of BEHAVIOURS) plans.push([n, b, Math.max(1, Math.floor(count / 10))])
  }
  for (const [n, mode, seeds] of plans) {
    const started = performance.now()
    const s = runSeeds(n, mode, first, seeds, true)
    const secs = ((performance.now() - started) / 1000).toFixed(1)
    process.stderr.write(`n=${n} ${mode}: ${JSON.stringify(s)} in ${secs}s\n`)
    if (s.failingSeeds.length > 0) {
      failures += s.failingSeeds.length
      process.stderr.write(`replay: ${replayCommand(n, mode, s.failingSeeds[0]!)}\n`)
    }
  }
  process.stderr.write(failures === 0 ? 'soak: every seed passed\n' : `soak: ${failures} failing seeds\n`)
  return failures === 0 ? 0 : 1
}

const [command, ...rest] = process.argv.slice(2)
const opts = parseArgs(rest)
switch (command) {
  case 'consensus':
    process.exitCode = consensus(opts)
    break
  case 'soak':
    process.exitCode = soak(opts)
    break
  case 'rollout':
    process.exitCode = rolloutCommand(opts)
    break
  default:
    usage(command ? `unknown simulation "${command}"` : 'which simulation?')
}
