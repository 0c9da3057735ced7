import type { Command } from 'commander'
import { parseCid } from '../../codec/cid.js'
import { shortDid } from '../../crypto/did.js'
import { addListCommand } from '../list-command.js'
import { CliError, type Output } from '../output.js'
import { clientOf, NODE_OPTION, submitAndReport, WAIT_OPTION } from '../submit.js'
import { registerPublish } from './publish.js'

function releaseCid(id: string) {
  const cid = parseCid(id)
  if (!cid) throw new CliError(`"${id}" is not a release id (the CID of its publish transaction)`)
  return cid
}

/**
 * The transactions that name a release and, all but an approval, a reason: one command each,
 * signed with `signer` and printed as "<done> <release> at height N".
 */
const RELEASE_ACTIONS = [
  {
    verb: 'approve',
    description: 'approve a release (needs the approver role; not the publisher)',
    signer: 'the approver key file',
    reason: false,
    done: 'approved',
  },
  {
    verb: 'revoke',
    description: 'revoke a release: devices stop installing it',
    signer: 'the publisher or admin key file',
    reason: true,
    done: 'revoked',
  },
  {
    verb: 'pause',
    description: 'pause a rollout: no device starts downloading or installing it until resume',
    signer: 'the publisher or admin key file',
    reason: true,
    done: 'paused',
  },
  {
    verb: 'resume',
    description: 'resume a paused rollout, or (admins only) one its failure threshold halted',
    signer: 'the publisher or admin key file',
    reason: true,
    done: 'resumed',
  },
  {
    verb: 'abort',
    description: 'abort a rollout for good: devices stop installing it (final)',
    signer: 'the publisher or admin key file',
    reason: true,
    done: 'aborted',
  },
] as const

/**
 * `fwmesh release publish|rollout|approve|revoke|pause|resume|abort|list|show`: a release's
 * life on the ledger (publish.ts holds publish and rollout).
 */
export function registerRelease(program: Command, output: () => Output): void {
  const release = program.command('release').description('publish, approve, revoke and inspect releases')
  registerPublish(release, output)
  for (const action of RELEASE_ACTIONS) {
    const command = release
      .command(action.verb)
      .description(action.description)
      .argument('<release>', 'the release id')
    if (action.reason) command.requiredOption('--reason <text>', 'why, for the audit trail')
    command
      .option('--key <file>', action.signer)
      .option(...NODE_OPTION)
      .option(...WAIT_OPTION)
      .action(async (id: string, o: { reason?: string; key?: string; node?: string; wait: string }) => {
        const fields = {
          type: `release.${action.verb}`,
          release: releaseCid(id),
          ...(action.reason ? { reason: o.reason } : {}),
        }
        await submitAndReport(o, `release ${action.verb}`, fields, output(), { done: `${action.done} ${id}` })
      })
  }
  addListCommand(release, output, {
    description: 'list releases on the ledger',
    options: [['--product <name>', 'only this product']],
    fetch: (client, o: { product?: string; node?: string }) => client.releases(o.product),
    none: 'no releases',
    line: (r) =>
      `${r.id}  ${r.product} ${r.version} (${r.channel})  ${r.revoked ? 'revoked' : r.aborted ? 'aborted' : r.paused ? 'paused' : r.halted ? 'halted' : r.installable ? 'installable' : `approvals ${r.approvals}`}`,
  })
  release
    .command('show')
    .description('one release with its approvals')
    .argument('<release>', 'the release id')
    .option(...NODE_OPTION)
    .action(async (id: string, o: { node?: string }) => {
      const r = await clientOf(o).release(id)
      output().result(r, () => describeRelease(r))
    })
}

/** A release for people: what it is, its state, who published and approved it, its rollout. */
function describeRelease(r: Record<string, unknown>): string {
  const revoked = r.revoked as { reason: string; by: string; height: number } | null
  const approvers = (r.approvers as Array<{ approver: string; height: number }> | undefined) ?? []
  const rollout = r.rollout as {
    start: number
    waves: Array<{ percent: number; afterMs: number; maxFailurePercent?: number }>
  }
  const tags = (r.tags as string[] | undefined) ?? []
  type Stop = { reason: string; by: string; height: number } | null | undefined
  const aborted = r.aborted as Stop
  const paused = r.paused as Stop
  const halted = r.halted as { wave: number; failures: number; targeted: number; height: number } | null
  const stops = [
    ...(paused ? [`paused at height ${paused.height} by ${shortDid(paused.by)}: ${paused.reason}`] : []),
    ...(halted
      ? [
          `halted at height ${halted.height} in wave ${halted.wave}: ${halted.failures} of ${halted.targeted} devices in open waves failed`,
        ]
      : []),
  ]
  const state = revoked
    ? `revoked at height ${revoked.height} by ${shortDid(revoked.by)}: ${revoked.reason}`
    : aborted
      ? `aborted at height ${aborted.height} by ${shortDid(aborted.by)}: ${aborted.reason}`
      : [
          r.installable
            ? `installable since height ${r.approvedAt}`
            : `waiting for approvals (${r.approvals} so far)`,
          ...stops,
        ].join('; ')
  const mib = (Number(r.imageSize) / 1048576).toFixed(1)
  return [
    `${r.product} ${r.version} (${r.channel}) for ${(r.hardware as string[]).join(', ')}`,
    `release ${r.id}`,
    `state: ${state}`,
    `image: ${r.imageSize} bytes (${mib} MiB) in chunks of ${r.chunkSize}; sha256 ${r.imageSha256}`,
    `manifest: ${r.manifest}`,
    ...(r.minFrom ? [`devices must run at least ${r.minFrom}`] : []),
    ...(tags.length > 0 ? [`only devices tagged ${tags.join(' or ')}`] : []),
    `published by ${shortDid(String(r.publisher))} at height ${r.publishedAt}`,
    ...approvers.map((a) => `approved by ${shortDid(a.approver)} at height ${a.height}`),
    `rollout from ${new Date(rollout.start).toISOString()}: ${rollout.waves
      .map(
        (w) =>
          `${w.percent} % after ${Math.round(w.afterMs / 1000)} s${w.maxFailurePercent !== undefined ? ` (halts at ${w.maxFailurePercent} % failed)` : ''}`,
      )
      .join(', ')}`,
  ].join('\n')
}
