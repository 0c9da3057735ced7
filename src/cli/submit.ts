import { readFileSync } from 'node:fs'
import { type SignedTx, signTx, type TxBody } from '../ledger/tx.js'
import { systemClock } from '../node/clock.js'
import { NodeClient } from './api-client.js'
import { loadSigningKey } from './keys.js'
import { CliError, ExitCode, type Output } from './output.js'

/**
 * The node the CLI talks to: --node, then FWMESH_NODE, then the default local API. A node whose
 * API needs a bearer token (api.token_file) gets it from FWMESH_API_TOKEN, or from the file
 * FWMESH_API_TOKEN_FILE names.
 */
export function clientOf(options: { node?: string }): NodeClient {
  return new NodeClient(options.node ?? process.env.FWMESH_NODE ?? 'http://127.0.0.1:7070', apiToken())
}

function apiToken(): string | null {
  const token = process.env.FWMESH_API_TOKEN?.trim()
  if (token) return token
  const file = process.env.FWMESH_API_TOKEN_FILE
  if (!file) return null
  try {
    return readFileSync(file, 'utf8').trim()
  } catch (cause) {
    throw new CliError(`FWMESH_API_TOKEN_FILE: cannot read ${file}: ${(cause as Error).message}`)
  }
}

/** --wait in milliseconds, or a CliError. */
export function waitMsOf(options: { wait: string }): number {
  const waitSeconds = Number(options.wait)
  if (!Number.isFinite(waitSeconds) || waitSeconds < 0)
    throw new CliError('--wait must be a number of seconds')
  return Math.round(waitSeconds * 1000)
}

/** Signs a body with a key file, for the chain of the node `client` talks to (unless given). */
export async function signFor(
  options: { key?: string },
  what: string,
  fields: Record<string, unknown>,
  client: NodeClient,
  chainId?: string,
): Promise<SignedTx> {
  const keys = await loadSigningKey(options.key, what)
  const chain = chainId ?? String((await client.status()).chain)
  const body = { ...fields, chain, signer: keys.publicKey, nonce: systemClock.now() } as TxBody
  try {
    return signTx(body, keys)
  } catch (cause) {
    throw new CliError(`${what}: ${(cause as Error).message}`)
  }
}

/** The CliError of a transaction still pending after --wait. */
export function notCommitted(what: string, waitMs: number, id: string): CliError {
  return new CliError(
    `${what}: not committed after ${waitMs / 1000} s (transaction ${id}); check with \`fwmesh status\``,
    ExitCode.timeout,
    { id },
  )
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
async function signAndSubmit(
  options: { node?: string; key?: string; wait: string },
  what: string,
  fields: Record<string, unknown>,
  output: Output,
  chainId?: string,
): Promise<{ id: string; height?: number }> {
  const client = clientOf(options)
  const waitMs = waitMsOf(options)
  const tx = await signFor(options, what, fields, client, chainId)
  output.info(`${what}: submitting ${tx.idString}`)
  const r = await client.submit(tx, waitMs)
  if (waitMs > 0 && r.status !== 'committed') throw notCommitted(what, waitMs, r.id)
  return r
}

/**
 * Signs and submits a transaction, then prints what it did: "<done> at height N", or
 * "(pending)" when not waiting for the commit. `extra` joins the node's answer in the JSON.
 */
export async function submitAndReport(
  options: { node?: string; key?: string; wait: string },
  what: string,
  fields: Record<string, unknown>,
  output: Output,
  report: { done: string; extra?: Record<string, unknown> },
): Promise<void> {
  const r = await signAndSubmit(options, what, fields, output)
  output.result({ ...r, ...report.extra }, () => `${report.done} at height ${r.height ?? '(pending)'}`)
}
