import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { parseGenesis } from '../../ledger/genesis.js'
import { loadConfig } from '../../node/config.js'
import { configExample, EXAMPLE_DATA_DIR, EXAMPLE_ROLES, type ExampleRole } from '../config-example.js'
import { CliError, ExitCode, type Output } from '../output.js'

/**
 * `fwmesh config example|check`: a commented configuration to start from, and the same checks
 * `fwmesh node` makes of a file before it starts (ranges, units, the genesis it names).
 */
export function registerConfig(program: Command, output: () => Output): void {
  const config = program.command('config').description("write and check a node's configuration file")
  config
    .command('example')
    .description('print a commented TOML configuration for a role, every field with its range and default')
    .requiredOption('--role <role>', EXAMPLE_ROLES.join(' | '))
    .option('--data-dir <dir>', 'the data directory it names', EXAMPLE_DATA_DIR)
    .option('--genesis <file>', 'the genesis file it names (default: genesis.json in the data directory)')
    .action((o: { role: string; dataDir: string; genesis?: string }) => {
      if (!(EXAMPLE_ROLES as readonly string[]).includes(o.role))
        throw new CliError(
          `--role must be one of ${EXAMPLE_ROLES.join(', ')}, not "${o.role}"`,
          ExitCode.usage,
        )
      process.stdout.write(configExample(o.role as ExampleRole, o.dataDir, o.genesis))
    })
  config
    .command('check')
    .description('check a configuration file (and the genesis it names) as `fwmesh node` would')
    .argument('<file>', 'the TOML file')
    .action(async (file: string) => {
      const loaded = await loadConfig(file)
      if (!loaded.ok) throw new CliError(loaded.error.message)
      const c = loaded.value
      const genesisText = await readFile(c.genesisPath, 'utf8').catch((cause: NodeJS.ErrnoException) => {
        throw new CliError(`genesis ${c.genesisPath}: cannot read it (${cause.code ?? cause.message})`)
      })
      const genesis = parseGenesis(genesisText)
      if (!genesis.ok) throw new CliError(`genesis ${c.genesisPath}: ${genesis.error.message}`)
      output().result(
        {
          ok: true,
          role: c.role,
          device: c.device !== null,
          dataDir: c.dataDir,
          genesis: c.genesisPath,
          chain: genesis.value.chainId,
          api: `${c.api.host}:${c.api.port}`,
        },
        () =>
          `${file}: ok (${c.device ? 'device' : c.role} of chain ${genesis.value.chainId}; data in ${c.dataDir}; API on ${c.api.host}:${c.api.port})`,
      )
    })
}
