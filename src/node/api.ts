import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { jsonReplacer } from '../codec/json.js'
import { API_BODY_BYTES_MAX, API_WAIT_MS_MAX } from '../constants.js'
import { decodeTxRequest, parseJsonBody } from './api-body.js'

/**
 * The node's local HTTP API, bound to 127.0.0.1 by default: what the CLI talks to. JSON in and
 * out; errors are `{error, code}` with a 4xx status. It knows nothing of libp2p or the cores:
 * it calls a `NodeApiHandlers` the daemon implements.
 */
export interface ApiError {
  readonly status: 400 | 404 | 409 | 422 | 503 | 504
  readonly code: string
  readonly message: string
}

export type ApiResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: ApiError }

export interface SubmitOptions {
  /** Wait until the transaction commits (or is refused), at most this long. 0 = do not wait. */
  readonly waitMs: number
}

export interface NodeApiHandlers {
  status(): unknown
  peers(): unknown
  releases(product: string | undefined): Promise<unknown>
  release(id: string): Promise<ApiResult<unknown>>
  devices(): Promise<unknown>
  audit(index: string, key: string): Promise<ApiResult<unknown>>
  downloads(): unknown
  /** A signed transaction envelope, as bytes. */
  submitTx(envelope: Uint8Array, options: SubmitOptions): Promise<ApiResult<unknown>>
  /** Make an image on this machine available to the mesh (the publisher's node seeds it). */
  addImage(path: string, manifest: string): Promise<ApiResult<unknown>>
  /** Prometheus text exposition. */
  metrics(): string
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, jsonReplacer)}\n`
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function sendError(res: ServerResponse, error: ApiError): void {
  send(res, error.status, { error: error.message, code: error.code })
}

async function readBody(req: IncomingMessage): Promise<ApiResult<Record<string, unknown>>> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength
    if (size > API_BODY_BYTES_MAX) {
      return {
        ok: false,
        error: { status: 400, code: 'too-large', message: `request body over ${API_BODY_BYTES_MAX} bytes` },
      }
    }
    chunks.push(chunk as Buffer)
  }
  return parseJsonBody(Buffer.concat(chunks))
}

function bad(message: string): ApiResult<never> {
  return { ok: false, error: { status: 400, code: 'malformed', message } }
}

async function route(handlers: NodeApiHandlers, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost')
  const parts = url.pathname
    .split('/')
    .filter((p) => p.length > 0)
    .map(decodeURIComponent)
  const method = req.method ?? 'GET'
  const respond = (r: ApiResult<unknown>) => (r.ok ? send(res, 200, r.value) : sendError(res, r.error))

  if (method === 'GET' && url.pathname === '/metrics') {
    const text = handlers.metrics()
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
    res.end(text)
    return
  }
  if (parts[0] !== 'v1')
    return sendError(res, { status: 404, code: 'not-found', message: `no route ${url.pathname}` })
  const [, resource, id, sub] = parts
  if (method === 'GET') {
    if (resource === 'status' && !id) return send(res, 200, handlers.status())
    if (resource === 'peers' && !id) return send(res, 200, handlers.peers())
    if (resource === 'releases' && !id)
      return send(res, 200, await handlers.releases(url.searchParams.get('product') ?? undefined))
    if (resource === 'releases' && id && !sub) return respond(await handlers.release(id))
    if (resource === 'devices' && !id) return send(res, 200, await handlers.devices())
    if (resource === 'audit' && id && sub) return respond(await handlers.audit(id, sub))
    if (resource === 'downloads' && !id) return send(res, 200, handlers.downloads())
  }
  if (method === 'POST') {
    const body = await readBody(req)
    if (!body.ok) return sendError(res, body.error)
    const doc = body.value
    if (resource === 'tx' && !id) {
      const envelope = decodeTxRequest(doc)
      if (!envelope.ok) return respond(envelope)
      const waitMs = Math.min(Number(url.searchParams.get('waitMs') ?? 0) || 0, API_WAIT_MS_MAX)
      return respond(await handlers.submitTx(envelope.value, { waitMs }))
    }
    if (resource === 'images' && !id) {
      if (typeof doc.path !== 'string' || typeof doc.manifest !== 'string') {
        return respond(bad('expected {"path": "<image file on this machine>", "manifest": "<manifest CID>"}'))
      }
      return respond(await handlers.addImage(doc.path, doc.manifest))
    }
  }
  return sendError(res, { status: 404, code: 'not-found', message: `no route ${method} ${url.pathname}` })
}

/** Starts the API server; resolves once it listens. */
export async function startApi(
  handlers: NodeApiHandlers,
  host: string,
  port: number,
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    route(handlers, req, res).catch((cause: unknown) => {
      // A handler bug must not take the node down; the caller sees a 500 with one sentence.
      if (!res.headersSent)
        send(res, 500, { error: `internal error: ${(cause as Error).message}`, code: 'internal' })
      else res.destroy()
    })
  })
  // Slow or idle clients must not hold sockets forever.
  server.requestTimeout = API_WAIT_MS_MAX + 10_000
  server.headersTimeout = 10_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const actual = (server.address() as AddressInfo).port
  return {
    server,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** Formats metrics in the Prometheus text format. */
export function prometheus(
  metrics: ReadonlyArray<{
    name: string
    help: string
    type: 'gauge' | 'counter'
    value: number
    labels?: Record<string, string>
  }>,
): string {
  const lines: string[] = []
  const seen = new Set<string>()
  for (const m of metrics) {
    if (!seen.has(m.name)) {
      lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`)
      seen.add(m.name)
    }
    const labels = m.labels
      ? `{${Object.entries(m.labels)
          .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
          .join(',')}}`
      : ''
    lines.push(`${m.name}${labels} ${Number.isFinite(m.value) ? m.value : 0}`)
  }
  return `${lines.join('\n')}\n`
}
