/**
 * The `fwmesh` command (main.ts runs it). Every user error is one sentence on stderr and a
 * non-zero exit code (see `ExitCode` in output.ts); `--json` prints machine-readable results on
 * stdout.
 */
import { Command, CommanderError } from 'commander'
import { registerAudit } from './commands/audit.js'
import { registerConfig } from './commands/config.js'
import { registerDevice } from './commands/device.js'
import { registerGenesis } from './commands/genesis.js'
import { registerKeygen } from './commands/keygen.js'
import { registerLedger } from './commands/ledger.js'
import { registerNode } from './commands/node.js'
import { registerRelease } from './commands/release.js'
import { registerRole } from './commands/role.js'
import { registerRollout } from './commands/rollout.js'
import { registerStatus } from './commands/status.js'
import { ExitCode, makeOutput, type Output, reportError } from './output.js'
import { fwmeshVersion } from './version.js'

const EXIT_CODES_HELP = `
fwmesh --version (or -V) prints the version.

Exit codes:
  0  success
  1  bad input (missing file, bad key, malformed argument)
  2  usage error (unknown command or option)
  3  the local node could not be reached
  4  the ledger refused a transaction (the reason is printed)
  5  the ledger on disk failed verification
  6  a wait (for a commit or a rollout) timed out
  7  status: the chain is not live (its newest block is older than max_chain_age)
  8  node: an address in api.listen or network.listen cannot be bound (in use, not this machine's, privileged)
  9  rollout status --watch, release rollout --wait: every eligible device is done and at least one failed`

export function buildProgram(): { program: Command; json: () => boolean } {
  const program = new Command('fwmesh')
    .description('peer-to-peer firmware distribution with a BFT ledger of upgrade records')
    .option('--json', 'print machine-readable JSON on stdout')
    .addHelpText('after', EXIT_CODES_HELP)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
  const json = () => program.opts<{ json?: boolean }>().json === true
  const output = (): Output => makeOutput(json())
  registerKeygen(program, output)
  registerGenesis(program, output)
  registerLedger(program, output)
  registerNode(program, output)
  registerConfig(program, output)
  registerStatus(program, output)
  registerDevice(program, output)
  registerRelease(program, output)
  registerAudit(program, output)
  registerRole(program, output)
  registerRollout(program, output)
  for (const command of program.commands) command.exitOverride()
  return { program, json }
}

export async function main(argv: string[]): Promise<number> {
  // `fwmesh --version` by hand: commander's version option is global, and would take the
  // `--version <semver>` of `release publish` for itself.
  const first = argv[2]
  if (first === '--version' || first === '-V') {
    process.stdout.write(`${fwmeshVersion()}\n`)
    return ExitCode.ok
  }
  const { program, json } = buildProgram()
  try {
    await program.parseAsync(argv)
    return ExitCode.ok
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0; commander printed the text.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage
    }
    return reportError(error, json())
  }
}
