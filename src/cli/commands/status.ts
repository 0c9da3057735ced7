import type { Command } from 'commander'
import { STATUS_WAIT_POLL_MS } from '../../constants.js'
import { monotonicClock } from '../../node/clock.js'
import type { NodeClient } from '../api-client.js'
import { CliError, ExitCode, type Output } from '../output.js'
import { clientOf, NODE_OPTION, waitMsOf } from '../submit.js'

/**
 * The node's status; with a wait, asked again while the node is unreachable (still starting) or
 * its chain is not live (validators not yet in quorum), until `waitMs` has passed. Then the last
 * answer stands: an unreachable node throws (exit 3), a stale chain is printed (exit 7).
 */
async function statusOf(client: NodeClient, waitMs: number): Promise<Record<string, unknown>> {
  // The wait is elapsed time: a step of the wall clock must neither end it nor stretch it.
  const deadline = monotonicClock.now() + waitMs
  for (;;) {
    try {
      const s = await client.status()
      if (s.live === true || monotonicClock.now() >= deadline) return s
    } catch (error) {
      const unreachable = error instanceof CliError && error.exitCode === ExitCode.nodeUnreachable
      if (!unreachable || monotonicClock.now() >= deadline) throw error
    }
    await new Promise((r) => setTimeout(r, STATUS_WAIT_POLL_MS))
  }
}

/** What a device's status holds (src/node/agent-driver.ts `status()`), as far as the text shows it. */
interface DeviceStatus {
  readonly product: string
  readonly hardware: string
  readonly channel: string
  readonly registered: { product: string; hardware: string } | null
  readonly installedVersion: string
  readonly phase: string
  readonly target: { release: string; version: string } | null
  readonly lastError: string | null
  readonly releases: ReadonlyArray<{ release: string; version: string; eligible: boolean; reason?: string }>
}

/** A device's state in sentences: what it runs, what it is doing, and each release's verdict. */
function deviceLines(d: DeviceStatus): string[] {
  return [
    `device ${d.product}/${d.hardware} (channel ${d.channel}): runs ${d.installedVersion}, ${d.phase}${d.target ? ` ${d.target.version}` : ''}`,
    ...(d.registered ? [] : ['device not registered on the ledger: its install reports are refused']),
    ...(d.lastError ? [`last error: ${d.lastError}`] : []),
    ...d.releases.map(
      (r) =>
        `release ${r.version} ${r.release}: ${r.version === d.installedVersion ? 'running' : r.eligible ? 'to install' : `not for this device now (${r.reason})`}`,
    ),
  ]
}

/**
 * `fwmesh status`: the local node's state in a few lines (or JSON), and exit code 7 when its
 * chain is not live.
 */
export function registerStatus(program: Command, output: () => Output): void {
  program
    .command('status')
    .description("show the local node's state: chain head, peers, role, recent rejections")
    .option(...NODE_OPTION)
    .option(
      '--wait <seconds>',
      'wait this long for the node to answer and its chain to be live (0: ask once)',
      '0',
    )
    .action(async (o: { node?: string; wait: string }) => {
      const s = await statusOf(clientOf(o), waitMsOf(o))
      const head = s.head as { height: number; hash: string | null }
      const rejections = (s.rejections as Array<{ type: string; code: string; message: string }>) ?? []
      const age = typeof s.chainAgeSeconds === 'number' ? Math.round(s.chainAgeSeconds) : null
      const max = typeof s.maxChainAgeSeconds === 'number' ? Math.round(s.maxChainAgeSeconds) : null
      const stale = `not live: the newest block is ${age ?? '?'} s old, over max_chain_age ${max ?? '?'} s`
      output().result(s, () =>
        [
          `${s.role} ${s.did}`,
          `chain ${s.chain}: height ${head.height}${s.live ? '' : ` (${stale})`}`,
          `peers ${s.peers}`,
          // What other nodes put in network.bootstrap to reach this one.
          ...((s.addresses as string[] | undefined) ?? []).map((a) => `address ${a}`),
          ...(s.device ? deviceLines(s.device as DeviceStatus) : []),
          ...rejections.slice(-5).map((r) => `refused ${r.type}: ${r.message} (${r.code})`),
        ].join('\n'),
      )
      // A stale chain is a failed check for scripts and monitors (exit 7), not only a word.
      if (s.live !== true)
        throw new CliError(
          `the chain is ${stale}; no download or install starts${o.wait !== '0' ? ` (waited ${o.wait} s)` : ''}`,
          ExitCode.stale,
          undefined,
          true,
        )
    })
}
