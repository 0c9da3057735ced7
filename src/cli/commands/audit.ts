import type { Command } from 'commander'
import { toHex } from '../../codec/bytes.js'
import { shortDid } from '../../crypto/did.js'
import { parsePublicKeyArg } from '../keys.js'
import { CliError, ExitCode, linesOr, type Output } from '../output.js'
import { clientOf, NODE_OPTION } from '../submit.js'

/** `fwmesh audit release|device <id>`: what happened to it, read back from the ledger. */
export function registerAudit(program: Command, output: () => Output): void {
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
      output().result(rows, () => linesOr(rows, 'nothing on the ledger', describeRow))
    })
}

/** One ledger transaction of an audit trail on one line: when, height, type, signer, what. */
export function describeRow(row: Record<string, unknown>): string {
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
