import type { Command } from 'commander'
import type { RolloutDevice, RolloutView } from '../../agent/rollout-view.js'
import { ROLLOUT_STATES } from '../../agent/rollout-view.js'
import { ROLLOUT_WATCH_POLL_MS } from '../../constants.js'
import { shortDid } from '../../crypto/did.js'
import { monotonicClock } from '../../node/clock.js'
import type { NodeClient } from '../api-client.js'
import { CliError, ExitCode, type Output } from '../output.js'
import { clientOf, NODE_OPTION } from '../submit.js'

/**
 * `fwmesh rollout status RELEASE`: how far a release has rolled out, per wave and per device,
 * from the node's `GET /v1/releases/{id}/rollout` (src/agent/rollout-view.ts). Counts are of
 * eligible devices only; ineligible ones are listed with their reason. `--watch` redraws until
 * every eligible device confirmed, rolled back or failed, then exits 0 when all confirmed and
 * ExitCode.rolloutFailed (9) when any failed; 6 when `--timeout` ran out first.
 */

/** "3 confirmed, 1 failed, 2 downloading": the states with a count, in rollout order. */
export function countsText(counts: RolloutView['counts']): string {
  const parts = ROLLOUT_STATES.filter((s) => counts[s] > 0).map((s) => `${counts[s]} ${s}`)
  return parts.length > 0 ? parts.join(', ') : 'none'
}

function when(ms: number, now: number): string {
  const at = new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z')
  if (ms <= now) return `since ${at}`
  const s = Math.round((ms - now) / 1000)
  const rel = s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`
  return `at ${at} (in ${rel})`
}

function deviceDetail(d: RolloutDevice, now: number): string {
  if (d.state === 'downloading') return `${d.percent ?? 0} %`
  if (d.state === 'ineligible') return d.reason ?? ''
  if (d.state === 'failed' || d.state === 'installing') return d.detail ?? ''
  if (d.state === 'pending' && d.reason === 'wave-closed' && d.opensAt !== undefined)
    return `wave opens ${when(d.opensAt, now)}`
  if (d.state === 'pending' && d.reason === 'not-approved') return 'release not approved yet'
  if (d.state === 'pending' && d.reason === 'paused') return 'release paused'
  if (d.state === 'pending' && d.reason === 'halted') return 'rollout halted before its wave'
  if (d.state === 'pending') return 'nothing heard yet'
  return ''
}

/** The release's state in a few words: final stops first, then operators' and the threshold's. */
export function releaseStateText(v: RolloutView): string {
  if (v.revoked) return 'revoked'
  if (v.aborted) return `aborted by ${shortDid(v.aborted.by)}: ${v.aborted.reason}`
  if (!v.installable) return 'not approved yet'
  const stops = [
    ...(v.paused ? [`paused by ${shortDid(v.paused.by)}: ${v.paused.reason}`] : []),
    ...(v.halted
      ? [
          `halted at wave ${v.halted.wave}: ${v.halted.failures} of ${v.halted.targeted} devices in open waves failed`,
        ]
      : []),
  ]
  return stops.length > 0 ? stops.join('; ') : 'installable'
}

/** The view as a person reads it: the release, totals, one line per wave, a table of devices. */
export function renderRollout(v: RolloutView): string {
  const lines = [
    `${v.product} ${v.version} (release ${v.release}), channel ${v.channel}, hardware ${v.hardware.join(', ')}${v.tags.length > 0 ? `, tags ${v.tags.join(', ')}` : ''}: ${releaseStateText(v)}`,
    `${v.eligible} eligible device${v.eligible === 1 ? '' : 's'}: ${countsText(v.counts)}${v.ineligible > 0 ? `; ${v.ineligible} ineligible` : ''}`,
    ...v.waves.map(
      (w) =>
        `wave ${w.index}: ${w.percent} % ${w.halted ? 'halted, would open' : w.open ? 'open' : 'opens'} ${when(w.opensAt, v.now)}${w.maxFailurePercent !== undefined ? ` (halts at ${w.maxFailurePercent} % failed)` : ''}: ${w.devices} device${w.devices === 1 ? '' : 's'}${w.devices > 0 ? `, ${countsText(w.counts)}` : ''}`,
    ),
  ]
  if (v.devices.length > 0) {
    const rows = v.devices.map((d) => [
      shortDid(d.did),
      d.wave === null ? '-' : String(d.wave),
      d.state,
      deviceDetail(d, v.now),
    ])
    const header = ['DEVICE', 'WAVE', 'STATE', 'DETAIL']
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
    const fmt = (r: string[]) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd()
    lines.push('', fmt(header), ...rows.map(fmt))
  }
  return lines.join('\n')
}

export function rolloutOf(client: NodeClient, id: string): Promise<RolloutView> {
  return client.rollout(id)
}

/** Asks for the view until it is done or `timeoutMs` (0: no limit) passes; `onView` sees each. */
export async function watchRollout(
  client: NodeClient,
  id: string,
  timeoutMs: number,
  onView: (v: RolloutView) => void,
): Promise<{ view: RolloutView; timedOut: boolean }> {
  // The timeout is elapsed time: a step of the wall clock must neither end the watch nor stretch it.
  const deadline = timeoutMs > 0 ? monotonicClock.now() + timeoutMs : Number.POSITIVE_INFINITY
  for (;;) {
    const view = await rolloutOf(client, id)
    onView(view)
    // Aborted and halted rollouts wait for a person: watching longer shows nothing new.
    if (view.done || view.aborted || view.halted) return { view, timedOut: false }
    if (monotonicClock.now() >= deadline) return { view, timedOut: true }
    await new Promise((r) =>
      setTimeout(r, Math.min(ROLLOUT_WATCH_POLL_MS, Math.max(0, deadline - monotonicClock.now()))),
    )
  }
}

/** The exit of a finished watch: failed devices first, then a timeout. */
export function rolloutVerdict(view: RolloutView, timedOut: boolean, waited: string): CliError | undefined {
  if (view.aborted || view.halted)
    return new CliError(
      `the rollout of ${view.product} ${view.version} stopped: ${releaseStateText(view)}`,
      ExitCode.rolloutFailed,
      { failed: view.counts.failed },
      true,
    )
  const failed = view.counts.failed + view.counts['rolled-back']
  if (failed > 0 && view.done)
    return new CliError(
      `${failed} of ${view.eligible} eligible devices did not confirm ${view.product} ${view.version} (${view.counts.failed} failed, ${view.counts['rolled-back']} rolled back)`,
      ExitCode.rolloutFailed,
      { failed: view.counts.failed, rolledBack: view.counts['rolled-back'] },
      true,
    )
  if (timedOut)
    return new CliError(
      `the rollout did not finish within ${waited} s: ${countsText(view.counts)}`,
      ExitCode.timeout,
      undefined,
      true,
    )
  return undefined
}

function parseSeconds(text: string, option: string): number {
  const n = Number(text)
  if (!Number.isFinite(n) || n < 0) throw new CliError(`${option} must be a number of seconds`)
  return Math.round(n * 1000)
}

export function registerRollout(program: Command, output: () => Output): void {
  const rollout = program.command('rollout').description("watch a release's rollout across the fleet")
  rollout
    .command('status')
    .description(
      "show a release's rollout per wave and per device (eligible devices only are counted); with --watch, until every eligible device confirmed, rolled back or failed",
    )
    .argument('<release>', 'the release id')
    .option('--watch', 'redraw until every eligible device confirmed, rolled back or failed')
    .option('--timeout <seconds>', 'with --watch: give up after this long, exit 6 (0: no limit)', '0')
    .option(...NODE_OPTION)
    .action(async (id: string, o: { watch?: boolean; timeout: string; node?: string }) => {
      const out = output()
      const client = clientOf(o)
      const timeoutMs = parseSeconds(o.timeout, '--timeout')
      if (!o.watch) {
        const view = await rolloutOf(client, id)
        out.result(view, () => renderRollout(view))
        return
      }
      // On a terminal the table is redrawn in place; elsewhere (a log, a pipe) it is printed once.
      const live = !out.json && process.stdout.isTTY === true
      let drawn = ''
      const { view, timedOut } = await watchRollout(client, id, timeoutMs, (v) => {
        if (!live) return
        const text = renderRollout(v)
        if (text === drawn) return
        drawn = text
        process.stdout.write(`\x1b[H\x1b[2J${text}\n`)
      })
      if (!live) out.result(view, () => renderRollout(view))
      const verdict = rolloutVerdict(view, timedOut, o.timeout)
      if (verdict) throw verdict
    })
}
