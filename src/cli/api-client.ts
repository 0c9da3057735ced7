import { createReadStream } from 'node:fs'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { RolloutView } from '../agent/rollout-view.js'
import type { SignedTx } from '../ledger/tx.js'
import { PUBLISH_TX_HEADER } from '../node/api.js'
import { CliError, ExitCode } from './output.js'

/** How long the CLI waits for an answer: the longest commit wait of the API, and some. */
const CALL_TIMEOUT_MS = 150_000

/** What a publish answered: the release's transaction, its outcome and the image it seeds. */
export interface PublishAnswer {
  readonly id: string
  readonly status: 'committed' | 'pending'
  readonly height?: number
  readonly manifest: string
  readonly chunks: number
}

/**
 * The CLI's client of a node's local HTTP API. Every failure becomes a `CliError` with one
 * sentence: the node is not running, or it refused the request (with its reason). With a
 * token (FWMESH_API_TOKEN or FWMESH_API_TOKEN_FILE, see submit.ts) every request carries it.
 */
export class NodeClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | null = null,
  ) {}

  private authorization(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {}
  }

  private unreachable(cause: unknown): CliError {
    const why = (cause as { cause?: { code?: string } }).cause?.code ?? (cause as { code?: string }).code
    return new CliError(
      `cannot reach the node at ${this.baseUrl} (${why ?? (cause as Error).message}); is \`fwmesh node\` running? Use --node to point elsewhere`,
      ExitCode.nodeUnreachable,
    )
  }

  /** Turns an answer into its JSON document, or the CliError it stands for. */
  private answer(status: number, text: string): unknown {
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch {
      throw new CliError(
        `the node at ${this.baseUrl} answered with something other than JSON (status ${status})`,
        ExitCode.nodeUnreachable,
      )
    }
    if (status < 200 || status > 299) {
      const { error, code } = doc as { error?: string; code?: string }
      if (status === 401)
        throw new CliError(
          `the node at ${this.baseUrl} needs its API token: set FWMESH_API_TOKEN, or FWMESH_API_TOKEN_FILE to the file that holds it${this.token ? ' (the one given was refused)' : ''}`,
          ExitCode.userError,
          { code },
        )
      // A node still opening its ledger answers, but cannot serve yet: to the caller that is
      // an unreachable node (exit 3) to try again, not bad input (`fwmesh status --wait` does).
      if (status === 503 && code === 'starting')
        throw new CliError(
          `the node at ${this.baseUrl} is starting; try again in a moment`,
          ExitCode.nodeUnreachable,
          { code },
        )
      // 422 is the ledger's refusal, and only that: the node says "image.*" for image faults.
      const rejected = status === 422
      throw new CliError(
        rejected ? `the ledger refused the transaction: ${error} (${code})` : `${error ?? 'request failed'}`,
        rejected ? ExitCode.rejected : ExitCode.userError,
        { code },
      )
    }
    return doc
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    let response: Response
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          ...this.authorization(),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      })
    } catch (cause) {
      throw this.unreachable(cause)
    }
    return this.answer(response.status, await response.text())
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

  /** Asks whether the ledger would take a signed release.publish, without submitting it. */
  async checkPublish(tx: SignedTx): Promise<void> {
    await this.call('POST', '/v1/releases/check', { tx: Buffer.from(tx.bytes).toString('base64') })
  }

  /**
   * Publishes a release with its image: the signed transaction in a header, the image file as
   * the streamed body. The node checks the transaction first and answers "100 Continue" only
   * when the ledger would take it, so a refused release sends no byte of its image.
   */
  publish(
    tx: SignedTx,
    imagePath: string,
    imageSize: number,
    waitMs: number,
    onProgress?: (sent: number) => void,
  ): Promise<PublishAnswer> {
    const url = new URL(`${this.baseUrl}/v1/releases?waitMs=${waitMs}`)
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest
    return new Promise<PublishAnswer>((resolve, reject) => {
      let settled = false
      const settle = (fn: () => void) => {
        if (settled) return
        settled = true
        fn()
      }
      const req = request(url, {
        method: 'POST',
        // One connection for this request alone: it may close early when the node refuses.
        agent: false,
        headers: {
          ...this.authorization(),
          'content-type': 'application/octet-stream',
          'content-length': String(imageSize),
          expect: '100-continue',
          [PUBLISH_TX_HEADER]: Buffer.from(tx.bytes).toString('base64'),
        },
      })
      // Silence, not length, is the fault: an upload takes as long as its bytes keep moving.
      req.setTimeout(CALL_TIMEOUT_MS, () => {
        req.destroy()
        settle(() =>
          reject(new CliError(`the node at ${this.baseUrl} stopped answering the publish`, ExitCode.timeout)),
        )
      })
      req.on('continue', () => {
        const file = createReadStream(imagePath)
        let sent = 0
        file.on('data', (chunk) => {
          sent += chunk.length
          onProgress?.(sent)
        })
        file.on('error', (cause) => {
          req.destroy()
          settle(() => reject(new CliError(`cannot read ${imagePath}: ${cause.message}`)))
        })
        file.pipe(req)
      })
      req.on('response', (res: IncomingMessage) => {
        const parts: Buffer[] = []
        res.on('data', (d: Buffer) => parts.push(d))
        res.on('end', () => {
          // A refusal before "100 Continue" leaves the request without its body: drop it.
          req.destroy()
          settle(() => {
            try {
              resolve(
                this.answer(res.statusCode ?? 0, Buffer.concat(parts).toString('utf8')) as PublishAnswer,
              )
            } catch (error) {
              reject(error)
            }
          })
        })
        res.on('error', (cause) => settle(() => reject(this.unreachable(cause))))
      })
      req.on('error', (cause) => settle(() => reject(this.unreachable(cause))))
    })
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

  /** How far a release has rolled out (`GET /v1/releases/{id}/rollout`, src/agent/rollout-view.ts). */
  rollout(id: string): Promise<RolloutView> {
    return this.call('GET', `/v1/releases/${encodeURIComponent(id)}/rollout`) as Promise<RolloutView>
  }

  devices(): Promise<Array<Record<string, unknown>>> {
    return this.call('GET', '/v1/devices') as Promise<Array<Record<string, unknown>>>
  }

  roles(): Promise<Array<{ role: string; did: string; products: string[] | null; grantedAt: number }>> {
    return this.call('GET', '/v1/roles') as Promise<
      Array<{ role: string; did: string; products: string[] | null; grantedAt: number }>
    >
  }

  audit(index: string, key: string): Promise<Array<Record<string, unknown>>> {
    return this.call('GET', `/v1/audit/${encodeURIComponent(index)}/${encodeURIComponent(key)}`) as Promise<
      Array<Record<string, unknown>>
    >
  }

  downloads(): Promise<Array<Record<string, unknown>>> {
    return this.call('GET', '/v1/downloads') as Promise<Array<Record<string, unknown>>>
  }
}
