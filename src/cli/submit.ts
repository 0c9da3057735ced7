import { signTx, type TxBody } from '../ledger/tx.js'
import { NodeClient } from './api-client.js'
import { loadSigningKey } from './keys.js'
import { CliError, ExitCode, type Output } from './output.js'

/** The node the CLI talks to: --node, then FWMESH_NODE, then the default local API. */
export function clientOf(options: { node?: string }): NodeClient {
  return new NodeClient(options.node ?? process.env.FWMESH_NODE ?? 'http://127.0.0.1:7070')
}

export const NODE_OPTION = [
  '--node <url>',
  "the node's API (default $FWMESH_NODE or http://127.0.0.1:7070)",
] as const
export const WAIT_OPTION = [
  '--wait <seconds>',
  'wait this long for the transaction to commit (0: do not wait)',
  '60',
] as const

/** Signs a body with a key file and submits it, waiting for the commit. */
export async function signAndSubmit(
  options: { node?: string; key?: string; wait: string },
  what: string,
  fields: Record<string, unknown>,
  output: Output,
  chainId?: string,
): Promise<{ id: string; height?: number }> {
  const keys = await loadSigningKey(options.key, what)
  const client = clientOf(options)
  const chain = chainId ?? String((await client.status()).chain)
  const body = { ...fields, chain, signer: keys.publicKey, nonce: Date.now() } as TxBody
  let tx: ReturnType<typeof signTx>
  try {
    tx = signTx(body, keys)
  } catch (cause) {
    throw new CliError(`${what}: ${(cause as Error).message}`)
  }
  const waitSeconds = Number(options.wait)
  if (!Number.isFinite(waitSeconds) || waitSeconds < 0)
    throw new CliError('--wait must be a number of seconds')
  output.info(`${what}: submitting ${tx.idString}`)
  const r = await client.submit(tx, Math.round(waitSeconds * 1000))
  if (waitSeconds > 0 && r.status !== 'committed') {
    throw new CliError(
      `${what}: not committed after ${waitSeconds} s (transaction ${r.id}); check with \`fwmesh status\``,
      ExitCode.timeout,
      { id: r.id },
    )
  }
  return r
}
