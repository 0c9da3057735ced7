import type { Command } from 'commander'
import type { NodeClient } from './api-client.js'
import { linesOr, type Output } from './output.js'
import { clientOf, NODE_OPTION } from './submit.js'

/**
 * A `list` command under `parent` (device list, release list, role list): asks the node for its
 * rows and prints one line per row, `none` when there is none, or the rows as JSON. `options`
 * come before --node, in the order given.
 */
export function addListCommand<T, O extends { node?: string }>(
  parent: Command,
  output: () => Output,
  spec: {
    readonly description: string
    readonly options?: ReadonlyArray<readonly [flags: string, description: string]>
    readonly fetch: (client: NodeClient, options: O) => Promise<readonly T[]>
    readonly none: string
    readonly line: (row: T) => string
  },
): Command {
  const command = parent.command('list').description(spec.description)
  for (const option of spec.options ?? []) command.option(...option)
  return command.option(...NODE_OPTION).action(async (o: O) => {
    const rows = await spec.fetch(clientOf(o), o)
    output().result(rows, () => linesOr(rows, spec.none, spec.line))
  })
}
