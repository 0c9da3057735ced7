import type { Command } from 'commander'
import { toHex } from '../../codec/bytes.js'
import { parseCid } from '../../codec/cid.js'
import { STATUS_WAIT_POLL_MS } from '../../constants.js'
import { didFromPublicKey, shortDid } from '../../crypto/did.js'
import type { NodeClient } from '../api-client.js'
import { parsePublicKeyArg } from '../keys.js'
import { CliError, ExitCode, type Output } from '../output.js'
import { clientOf, NODE_OPTION, signAndSubmit, WAIT_OPTION, waitMsOf } from '../submit.js'
import { registerPublish } from './publish.js'

function releaseCid(id: string) {
  const cid = parseCid(id)
  if (!cid) throw new CliError(`"${id}" is not a release id (the CID of its publish transaction)`)
  return cid
}

/**
 * The node's status; with a wait, asked again while the node is unreachable (still starting) or
 * its chain is not live (validators not yet in quorum), until `waitMs` has passed. Then the last
 * answer stands: an unreachable node throws (exit 3), a stale chain is printed (exit 7).
 */
async function statusOf(client: NodeClient, waitMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + waitMs
  for (;;) {
    try {
      const s = await client.status()
      if (s.live === true || Date.now() >= deadline) return s
    } catch (error) {
      const unreachable = error instanceof CliError && error.exitCode === ExitCode.nodeUnreachable
      if (!unreachable || Date.now() >= deadline) throw error
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

export function registerRemote(program: Command, output: () => Output): void {
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

  const device = program.command('device').description('register devices and read their history')
  device
    .command('register')
    .description('register a device key on the ledger (needs the registrar role)')
    .argument('<device>', 'the device: did:key, 64 hex digits, or its key file')
    .requiredOption('--product <name>', 'the product the device is')
    .requiredOption('--hardware <model>', 'its hardware model')
    .option('--tag <name...>', 'tags for targeting (release publish --tag)')
    .option('--group <name...>', 'the same as --tag (its former name)')
    .option('--key <file>', 'the registrar key file')
    .option(...NODE_OPTION)
    .option(...WAIT_OPTION)
    .action(
      async (
        deviceArg: string,
        o: {
          product: string
          hardware: string
          tag?: string[]
          group?: string[]
          key?: string
          node?: string
          wait: string
        },
      ) => {
        const deviceKey = await parsePublicKeyArg(deviceArg, 'device')
        const r = await signAndSubmit(
          o,
          'device register',
          {
            type: 'device.register',
            device: deviceKey,
            product: o.product,
            hardware: o.hardware,
            // Tags are `groups` on the ledger (the field's name since the first chain format).
            groups: [...(o.tag ?? []), ...(o.group ?? [])],
          },
          output(),
        )
        output().result(
          { ...r, device: didFromPublicKey(deviceKey) },
          () => `registered ${didFromPublicKey(deviceKey)} at height ${r.height ?? '(pending)'}`,
        )
      },
    )
  device
    .command('revoke')
    .description(
      'revoke a device (lost, stolen, retired): its reports are refused, rollouts stop counting it',
    )
    .argument('<device>', 'the device: did:key, 64 hex digits, or its key file')
    .requiredOption('--reason <text>', 'why, for the audit trail')
    .option('--key <file>', 'the registrar key file')
    .option(...NODE_OPTION)
    .option(...WAIT_OPTION)
    .action(async (deviceArg: string, o: { reason: string; key?: string; node?: string; wait: string }) => {
      const deviceKey = await parsePublicKeyArg(deviceArg, 'device')
      const r = await signAndSubmit(
        o,
        'device revoke',
        { type: 'device.revoke', device: deviceKey, reason: o.reason },
        output(),
      )
      output().result(
        { ...r, device: didFromPublicKey(deviceKey) },
        () => `revoked ${shortDid(deviceKey)} at height ${r.height ?? '(pending)'}`,
      )
    })
  device
    .command('list')
    .description('list registered devices and what they installed')
    .option(...NODE_OPTION)
    .action(async (o: { node?: string }) => {
      const devices = await clientOf(o).devices()
      output().result(devices, () =>
        devices.length === 0
          ? 'no devices registered'
          : devices
              .map(
                (d) =>
                  `${d.did}  ${d.product}/${d.hardware}  ${(d.installed as { version?: string } | null)?.version ?? '(nothing installed)'}`,
              )
              .join('\n'),
      )
    })
  device
    .command('history')
    .description("a device's registration and install reports, from the ledger")
    .argument('<device>', 'did:key, hex, or key file')
    .option(...NODE_OPTION)
    .action(async (deviceArg: string, o: { node?: string }) => {
      const key = await parsePublicKeyArg(deviceArg, 'device')
      const rows = await clientOf(o).audit('device', toHex(key))
      output().result(rows, () => (rows.length === 0 ? 'no history' : rows.map(describeRow).join('\n')))
    })

  const release = program.command('release').description('publish, approve, revoke and inspect releases')
  registerPublish(release, output)
  release
    .command('approve')
    .description('approve a release (needs the approver role; not the publisher)')
    .argument('<release>', 'the release id')
    .option('--key <file>', 'the approver key file')
    .option(...NODE_OPTION)
    .option(...WAIT_OPTION)
    .action(async (id: string, o: { key?: string; node?: string; wait: string }) => {
      const r = await signAndSubmit(
        o,
        'release approve',
        { type: 'release.approve', release: releaseCid(id) },
        output(),
      )
      output().result(r, () => `approved ${id} at height ${r.height ?? '(pending)'}`)
    })
  release
    .command('revoke')
    .description('revoke a release: devices stop installing it')
    .argument('<release>', 'the release id')
    .requiredOption('--reason <text>', 'why, for the audit trail')
    .option('--key <file>', 'the publisher or admin key file')
    .option(...NODE_OPTION)
    .option(...WAIT_OPTION)
    .action(async (id: string, o: { reason: string; key?: string; node?: string; wait: string }) => {
      const r = await signAndSubmit(
        o,
        'release revoke',
        { type: 'release.revoke', release: releaseCid(id), reason: o.reason },
        output(),
      )
      output().result(r, () => `revoked ${id} at height ${r.height ?? '(pending)'}`)
    })
  const controls = [
    [
      'pause',
      'release.pause',
      'pause a rollout: no device starts downloading or installing it until resume',
      'paused',
    ],
    [
      'resume',
      'release.resume',
      'resume a paused rollout, or (admins only) one its failure threshold halted',
      'resumed',
    ],
    ['abort', 'release.abort', 'abort a rollout for good: devices stop installing it (final)', 'aborted'],
  ] as const
  for (const [verb, type, description, done] of controls)
    release
      .command(verb)
      .description(description)
      .argument('<release>', 'the release id')
      .requiredOption('--reason <text>', 'why, for the audit trail')
      .option('--key <file>', 'the publisher or admin key file')
      .option(...NODE_OPTION)
      .option(...WAIT_OPTION)
      .action(async (id: string, o: { reason: string; key?: string; node?: string; wait: string }) => {
        const r = await signAndSubmit(
          o,
          `release ${verb}`,
          { type, release: releaseCid(id), reason: o.reason },
          output(),
        )
        output().result(r, () => `${done} ${id} at height ${r.height ?? '(pending)'}`)
      })
  release
    .command('list')
    .description('list releases on the ledger')
    .option('--product <name>', 'only this product')
    .option(...NODE_OPTION)
    .action(async (o: { product?: string; node?: string }) => {
      const releases = await clientOf(o).releases(o.product)
      output().result(releases, () =>
        releases.length === 0
          ? 'no releases'
          : releases
              .map(
                (r) =>
                  `${r.id}  ${r.product} ${r.version} (${r.channel})  ${r.revoked ? 'revoked' : r.aborted ? 'aborted' : r.paused ? 'paused' : r.halted ? 'halted' : r.installable ? 'installable' : `approvals ${r.approvals}`}`,
              )
              .join('\n'),
      )
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

  program
    .command('audit')
    .description('what happened to a release or a device, read back from the ledger')
    .argument('<kind>', '"release" or "device"')
    .argument('<id>', 'a release id, or a device did:key / hex / key file')
    .option(...NODE_OPTION)
    .action(async (kind: string, id: string, o: { node?: string }) => {
      if (kind !== 'release' && kind !== 'device')
        throw new CliError('audit needs "release <id>" or "device <did>"', ExitCode.usage)
      const key = kind === 'device' ? toHex(await parsePublicKeyArg(id, 'device')) : id
      const rows = await clientOf(o).audit(kind, key)
      output().result(rows, () =>
        rows.length === 0 ? 'nothing on the ledger' : rows.map(describeRow).join('\n'),
      )
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

function describeRow(row: Record<string, unknown>): string {
  const when = new Date(Number(row.time)).toISOString()
  const type = String(row.type)
  const who = shortDid(String(row.signer))
  const what =
    type === 'install.report'
      ? `${row.status}${row.detail ? ` (${row.detail})` : ''}`
      : type === 'release.publish'
        ? `${row.product} ${row.version}`
        : type === 'release.revoke' ||
            type === 'release.pause' ||
            type === 'release.resume' ||
            type === 'release.abort'
          ? `reason: ${row.reason}`
          : ''
  return `${when}  height ${row.height}  ${type}  by ${who}  ${what}`.trimEnd()
}
