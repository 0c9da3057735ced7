import { writeFileSync } from 'node:fs'
import { type CpuModel, readCpuCosts } from './fleet/cpu.js'
import type { FleetProgress } from './fleet/fleet.js'
import { limitHeapGrowth, rerunWithHeapFor } from './heap-size.js'
import { renderRolloutReport } from './report/html.js'
import { fleetOptionsFor, runFleetScenario, SCENARIOS, scenarioNamed } from './scenarios/index.js'

/**
 * `npm run sim -- rollout …`: one fleet run, one JSON object on stdout, a progress bar on
 * stderr, and with `--report` a self-contained HTML page.
 */

export const ROLLOUT_HELP = `npm run sim -- rollout [options]

  --devices <n>       devices in the fleet (default 1000)
  --image-mib <m>     image size in MiB (default 64); chunks of 256 KiB (--chunk-kib to change)
  --seed <s>          the run is a pure function of the seed (default 1)
  --scenario <name>   ${SCENARIOS.map((s) => s.name).join(', ')} (default rollout)
  --cpu <model>       own (default): each node has a core of its own, and a link is no faster
                      than that core moves chunks at the calibrated costs
                      (simulations/fleet/cpu-costs.json, npm run sim:calibrate);
                      shared:<cores>: every node a process of one machine with that many
                      cores (what npm run sim:fidelity compares with real processes);
                      off: links only
  --json              print the JSON object on one line
  --report <file>     write an HTML report (completion vs the lower bound, origin vs peer
                      bandwidth, per bandwidth class)

Scenarios:
${SCENARIOS.map((s) => `  ${s.name.padEnd(16)} ${s.description}`).join('\n')}

Fields:
  devices, imageMiB, seed   the run's inputs
  wallSeconds, peakRssMB    real time and peak resident memory of this process (not deterministic)
  events                    discrete events processed
  simSeconds                per honest device, virtual seconds from the moment the release's
                            approval was committed (by the first validator) to the moment the
                            device holds the whole image, every chunk verified against the
                            manifest: p50, p90, p99 and max over the devices (max is Infinity
                            when a device never finished)
  lowerBoundSeconds         max(F/u_origin, F/d_min, N·F/(u_origin + Σu_i)) over the honest
                            devices' capacities (Kumar & Ross)
  clientServerSeconds       N·F/u_origin: the origin serving every device alone
  ratioToBound              simSeconds.max / lowerBoundSeconds
  ratioToBoundOnline        max over honest devices of (simSeconds − seconds spent offline
                            before completing) / lowerBoundSeconds; equals ratioToBound
                            without churn
  originEgressCopies        bytes the origin uploaded / image bytes
  announcementP99Ms         p99 over devices (online throughout) of the time from the approval
                            commit to the device's agent seeing the approved release (gossip)
  reportsCommitted          devices whose 'confirmed' report is committed
  reportCommitP99Ms         p99 of the time from a device's first submission of its 'confirmed'
                            report to its commit (first validator)
  scenario, details         which scenario; counts behind the figures (bans, churn, height, …)
`

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${ROLLOUT_HELP}`)
  process.exit(2)
}

function number(opts: Map<string, string>, key: string, fallback: number, min: number): number {
  const raw = opts.get(key)
  if (raw === undefined) return fallback
  const v = Number(raw)
  if (!Number.isFinite(v) || v < min) fail(`--${key} must be a number ≥ ${min}`)
  return v
}

/** A progress bar on stderr, redrawn at most every 200 ms of wall time. */
function progressBar(): (p: FleetProgress) => void {
  let last = 0
  const tty = process.stderr.isTTY === true
  return (p) => {
    const now = performance.now()
    if (now - last < (tty ? 200 : 5_000)) return
    last = now
    const done = p.honestDevices > 0 ? p.reportsCommitted / p.honestDevices : 0
    const fetched = p.honestDevices > 0 ? p.downloaded / p.honestDevices : 0
    const width = 30
    const bar = '#'.repeat(Math.round(fetched * width)).padEnd(width, '.')
    const line = `[${bar}] ${(fetched * 100).toFixed(1)}% downloaded, ${(done * 100).toFixed(1)}% reported, t=${p.simSeconds.toFixed(1)}s sim, ${(p.events / 1e6).toFixed(1)}M events`
    process.stderr.write(tty ? `\r${line}` : `${line}\n`)
  }
}

/** The CPU model `--cpu` asks for (see ROLLOUT_HELP). */
function cpuModel(opts: Map<string, string>, devices: number, validators: number): CpuModel | undefined {
  const raw = opts.get('cpu') ?? 'own'
  if (raw === 'off') return undefined
  const costs = readCpuCosts()
  if (raw === 'own') return { kind: 'own', costs }
  const shared = /^shared:(\d+)$/.exec(raw)
  if (shared && Number(shared[1]) >= 1)
    return { kind: 'shared', costs, cores: Number(shared[1]), processes: devices + validators }
  fail(`--cpu must be own, off or shared:<cores>, not "${raw}"`)
}

function figuresOf<T extends { details: unknown }>(out: T): Omit<T, 'details'> {
  const { details: _details, ...rest } = out
  return rest
}

export function rolloutCommand(opts: Map<string, string>): number {
  if (opts.has('help')) {
    process.stdout.write(ROLLOUT_HELP)
    return 0
  }
  const devices = number(opts, 'devices', 1000, 2)
  const imageMiB = number(opts, 'image-mib', 64, 0.0625)
  const seed = number(opts, 'seed', 1, 0)
  const chunkKiB = number(opts, 'chunk-kib', 256, 16)
  const scenario = opts.get('scenario') ?? 'rollout'
  if (!scenarioNamed(scenario)) fail(`unknown scenario "${scenario}"`)
  const chunkBytes = Math.round(chunkKiB * 1024)
  const imageBytes = Math.round(imageMiB * 2 ** 20)
  if (imageBytes < chunkBytes) fail('--image-mib must be at least one chunk')
  const rerun = rerunWithHeapFor(devices)
  if (rerun !== undefined) return rerun
  limitHeapGrowth()
  process.stderr.write(`seed ${seed}: ${scenario}, ${devices} devices, ${imageMiB} MiB image\n`)
  const started = performance.now()
  const cpu = cpuModel(
    opts,
    devices,
    fleetOptionsFor({ scenario, devices, imageBytes, chunkBytes, seed }).validators,
  )
  const run = runFleetScenario({
    scenario,
    devices,
    imageBytes,
    chunkBytes,
    seed,
    progress: progressBar(),
    ...(cpu ? { cpu } : {}),
  })
  const wallSeconds = (performance.now() - started) / 1000
  if (process.stderr.isTTY) process.stderr.write('\n')
  const { summary, result } = run
  const { scenario: name, details, ...figures } = summary
  const out = {
    devices: figures.devices,
    imageMiB: figures.imageMiB,
    seed: figures.seed,
    wallSeconds: Math.round(wallSeconds * 100) / 100,
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    events: figures.events,
    simSeconds: figures.simSeconds,
    lowerBoundSeconds: figures.lowerBoundSeconds,
    clientServerSeconds: figures.clientServerSeconds,
    ratioToBound: figures.ratioToBound,
    ratioToBoundOnline: figures.ratioToBoundOnline,
    originEgressCopies: figures.originEgressCopies,
    announcementP99Ms: figures.announcementP99Ms,
    reportsCommitted: figures.reportsCommitted,
    reportCommitP99Ms: figures.reportCommitP99Ms,
    scenario: name,
    details,
  }
  process.stdout.write(`${JSON.stringify(out, null, opts.has('json') ? 0 : 2)}\n`)
  const reportPath = opts.get('report')
  if (reportPath !== undefined) {
    const fleet = fleetOptionsFor({ scenario, devices, imageBytes, chunkBytes, seed })
    const html = renderRolloutReport({
      title: `fwmesh fleet simulation: ${name}, ${devices} devices, ${imageMiB} MiB`,
      seed,
      summary: { ...figuresOf(out), originUploadMbitPerSec: fleet.originUploadBitsPerSec / 1e6 },
      completion: result.series.completion,
      lowerBoundSeconds: result.lowerBoundSeconds,
      clientServerSeconds: result.clientServerSeconds,
      originBps: result.series.originBps,
      peerBps: result.series.peerBps,
      classes: result.series.classes,
    })
    writeFileSync(reportPath, html)
    process.stderr.write(`report written to ${reportPath}\n`)
  }
  const ok = summary.details.allReportsCommitted && summary.details.violations.length === 0
  return ok ? 0 : 1
}
