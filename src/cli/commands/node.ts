import type { Command } from 'commander'
import { loadConfig } from '../../node/config.js'
import { Node, StartError } from '../../node/daemon.js'
import { CliError, ExitCode, type Output } from '../output.js'

export function registerNode(program: Command, output: () => Output): void {
  program
    .command('node')
    .description('run the fwmesh daemon (a validator or a follower, per its config)')
    .requiredOption(
      '-c, --config <file>',
      'the node config file (TOML); FWMESH_* environment variables override it',
    )
    .action(async (o: { config: string }) => {
      const config = await loadConfig(o.config)
      if (!config.ok) throw new CliError(config.error.message)
      let node: Node
      try {
        node = await Node.start(config.value)
      } catch (cause) {
        if (cause instanceof StartError)
          throw new CliError(
            cause.message,
            cause.reason === 'ledger-corrupt'
              ? ExitCode.corrupt
              : cause.reason === 'listen'
                ? ExitCode.listen
                : ExitCode.userError,
          )
        throw cause
      }
      output().info(
        `fwmesh node ${node.did} on ${node.addresses().join(', ')}; API on ${config.value.api.host}:${node.apiPort}`,
      )
      // Graceful shutdown: finish queued outputs (a safety record, a committed block), close the store.
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGTERM', stop)
          process.off('SIGINT', stop)
          void node.stop().then(resolve)
        }
        process.on('SIGTERM', stop)
        process.on('SIGINT', stop)
      })
    })
}
