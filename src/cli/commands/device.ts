import type { Command } from 'commander'
import { toHex } from '../../codec/bytes.js'
import { didFromPublicKey, shortDid } from '../../crypto/did.js'
import { parsePublicKeyArg } from '../keys.js'
import { addListCommand } from '../list-command.js'
import { linesOr, type Output } from '../output.js'
import { clientOf, NODE_OPTION, submitAndReport, WAIT_OPTION } from '../submit.js'
import { describeRow } from './audit.js'

/**
 * `fwmesh device register|revoke|list|history`: the devices the ledger knows. Registrations and
 * revocations are ledger transactions signed by a registrar's key.
 */
export function registerDevice(program: Command, output: () => Output): void {
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
        const did = didFromPublicKey(deviceKey)
        await submitAndReport(
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
          { done: `registered ${did}`, extra: { device: did } },
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
      await submitAndReport(
        o,
        'device revoke',
        { type: 'device.revoke', device: deviceKey, reason: o.reason },
        output(),
        { done: `revoked ${shortDid(deviceKey)}`, extra: { device: didFromPublicKey(deviceKey) } },
      )
    })
  addListCommand(device, output, {
    description: 'list registered devices and what they installed',
    fetch: (client) => client.devices(),
    none: 'no devices registered',
    line: (d) =>
      `${d.did}  ${d.product}/${d.hardware}  ${(d.installed as { version?: string } | null)?.version ?? '(nothing installed)'}`,
  })
  device
    .command('history')
    .description("a device's registration and install reports, from the ledger")
    .argument('<device>', 'did:key, hex, or key file')
    .option(...NODE_OPTION)
    .action(async (deviceArg: string, o: { node?: string }) => {
      const key = await parsePublicKeyArg(deviceArg, 'device')
      const rows = await clientOf(o).audit('device', toHex(key))
      output().result(rows, () => linesOr(rows, 'no history', describeRow))
    })
}
