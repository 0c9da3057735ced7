import type { Command } from 'commander'
import { didFromPublicKey } from '../../crypto/did.js'
import { ROLES, type Role } from '../../ledger/tx.js'
import { parsePublicKeyArg } from '../keys.js'
import { addListCommand } from '../list-command.js'
import { CliError, ExitCode, type Output } from '../output.js'
import { NODE_OPTION, submitAndReport, WAIT_OPTION } from '../submit.js'

/** The role named on the command line, or a usage error listing the roles there are. */
function roleOf(value: string): Role {
  if ((ROLES as readonly string[]).includes(value)) return value as Role
  throw new CliError(`"${value}" is not a role; the roles are ${ROLES.join(', ')}`, ExitCode.usage)
}

/**
 * `fwmesh role grant|revoke|list`: who may publish (for which products), approve and register
 * devices. Grants and revocations are ledger transactions signed by the chain's admin key.
 */
export function registerRole(program: Command, output: () => Output): void {
  const role = program
    .command('role')
    .description("grant, revoke and list the ledger's roles (publisher, approver, registrar)")

  role
    .command('grant')
    .description('grant a role to a key (signed with the admin key of the genesis)')
    .argument('<role>', ROLES.join(' | '))
    .argument('<subject>', 'who: did:key, 64 hex digits, or their key file')
    .option('--product <name...>', 'publisher only: the products it may publish (* for every product)')
    .option('--key <file>', 'the admin key file')
    .option(...NODE_OPTION)
    .option(...WAIT_OPTION)
    .action(
      async (
        roleArg: string,
        subjectArg: string,
        o: { product?: string[]; key?: string; node?: string; wait: string },
      ) => {
        const name = roleOf(roleArg)
        if (name === 'publisher' && !o.product?.length)
          throw new CliError(
            'a publisher needs --product <name...>: the products it may publish (* for every product)',
            ExitCode.usage,
          )
        if (name !== 'publisher' && o.product?.length)
          throw new CliError(`--product applies to publishers only, not to a ${name}`, ExitCode.usage)
        const subject = await parsePublicKeyArg(subjectArg, 'role grant')
        const fields: Record<string, unknown> = { type: 'role.grant', subject, role: name }
        if (o.product?.length) fields.products = o.product
        const did = didFromPublicKey(subject)
        await submitAndReport(o, 'role grant', fields, output(), {
          done: `granted ${name} to ${did}`,
          extra: { role: name, did, products: o.product ?? null },
        })
      },
    )

  role
    .command('revoke')
    .description('revoke a role from a key (signed with the admin key of the genesis)')
    .argument('<role>', ROLES.join(' | '))
    .argument('<subject>', 'who: did:key, 64 hex digits, or their key file')
    .option('--key <file>', 'the admin key file')
    .option(...NODE_OPTION)
    .option(...WAIT_OPTION)
    .action(async (roleArg: string, subjectArg: string, o: { key?: string; node?: string; wait: string }) => {
      const name = roleOf(roleArg)
      const subject = await parsePublicKeyArg(subjectArg, 'role revoke')
      const did = didFromPublicKey(subject)
      await submitAndReport(o, 'role revoke', { type: 'role.revoke', subject, role: name }, output(), {
        done: `revoked ${name} from ${did}`,
        extra: { role: name, did },
      })
    })

  addListCommand(role, output, {
    description: 'list every role held on the ledger',
    fetch: (client) => client.roles(),
    none: 'no roles granted',
    line: (r) =>
      `${r.role.padEnd(9)}  ${r.did}${r.products ? `  products: ${r.products.join(', ')}` : ''}  (height ${r.grantedAt})`,
  })
}
