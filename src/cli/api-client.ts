import type { SignedTx } from '../ledger/tx.js'
import { CliError, ExitCode } from './output.js'

/**
 * The CLI's client of a node's local HTTP API. Every failure becomes a `CliError` with one
 * sentence: the node is not running, or it refused the request (with its reason).
 */
export class NodeClient {
  constructor(readonly baseUrl: string) {}

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    let response: Response
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(150_000),
      })
    } catch (cause) {
      const why = (cause as { cause?: { code?: string } }).cause?.code ?? (cause as Error).message
      throw new CliError(
        `cannot reach the node at ${this.baseUrl} (${why}); is \`fwmesh node\` running? Use --node to point elsewhere`,
        ExitCode.nodeUnreachable,
      )
    }
    const text = await response.text()
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch {
      throw new CliError(
        `the node at ${this.baseUrl} answered with something other than JSON (status ${response.status})`,
        ExitCode.nodeUnreachable,
      )
    }
    if (!response.ok) {
      const { error, code } = doc as { error?: string; code?: string }
      const rejected = response.status === 422
      throw new CliError(
        rejected ? `the ledger refused the transaction: ${error} (${code})` : `${error ?? 'request failed'}`,
        rejected ? ExitCode.rejected : ExitCode.userError,
        { code },
      )
    }
    return doc
  }

  status(): Promise<Record<string, unknown>> {
    return this.call('GET', '/v1/status') as Promise<Record<string, unknown>>
  }

  /** Submits a transaction; with `waitMs`, waits until it commits or the time runs out. */
  submit(
    tx: SignedTx,
    waitMs = 0,
  ): Promise<{ id: string; status: 'committed' | 'pending'; height?: number }> {
    return this.call('POST', `/v1/tx?waitMs=${waitMs}`, {
      tx: Buffer.from(tx.bytes).toString('base64'),
    }) as Promise<{ id: string; status: 'committed' | 'pending'; height?: number }>
  }

  releases(product?: string): Promise<Array<Record<string, unknown>>> {
    return this.call(
      'GET',
      `/v1/releases${product ? `?product=${encodeURIComponent(product)}` : ''}`,
    ) as Promise<Array<Record<string, unknown>>>
  }

  release(id: string): Promise<Record<string, unknown>> {
    return this.call('GET', `/v1/releases/${encodeURIComponent(id)}`) as Promise<Record<string, unknown>>
  }

  devices(): Promise<Array<Record<string, unknown>>> {
    return this.call('GET', '/v1/devices') as Promise<Array<Record<string, unknown>>>
  }

  audit(index: string, key: string): Promise<Array<Record<string, unknown>>> {
    return this.call('GET', `/v1/audit/${encodeURIComponent(index)}/${encodeURIComponent(key)}`) as Promise<
      Array<Record<string, unknown>>
    >
  }

  downloads(): Promise<Array<Record<string, unknown>>> {
    return this.call('GET', '/v1/downloads') as Promise<Array<Record<string, unknown>>>
  }

  addImage(path: string, manifest: string): Promise<Record<string, unknown>> {
    return this.call('POST', '/v1/images', { path, manifest }) as Promise<Record<string, unknown>>
  }
}
