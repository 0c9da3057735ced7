import { timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { type AddressInfo, isIPv4, isIPv6 } from 'node:net'
import { networkInterfaces } from 'node:os'
import { sha256 } from '../codec/hash.js'
import { toPlainJson } from '../codec/json.js'
import {
  API_BODY_BYTES_MAX,
  API_CONNECTIONS_MAX,
  API_HEADERS_MS,
  API_IDLE_MS,
  API_WAIT_MS_MAX,
} from '../constants.js'
import { decodeTxRequest, parseJsonBody } from './api-body.js'

/**
 * The node's local HTTP API, bound to 127.0.0.1 by default: what the CLI talks to. JSON in and
 * out; errors are `{error, code}` with a 4xx status. It knows nothing of libp2p or the cores:
 * it calls a `NodeApiHandlers` the daemon implements.
 *
 * Safe by default, because a browser on the same machine is a client too (docs/configuration.md):
 * - the Host header must name the bound address, localhost, or a configured `api.allowed_hosts`
 *   name (403 `forbidden-host`): a web page that rebinds its own DNS name to 127.0.0.1 still
 *   sends its own name;
 * - a request a browser marks as cross-origin (an `Origin` other than the API's own, or
 *   `Sec-Fetch-Site` other than same-origin or none) is refused (403 `cross-origin`), and no
 *   CORS header is ever sent;
 * - JSON bodies need `Content-Type: application/json` (415), which a page cannot send to
 *   another origin without a preflight that the previous rule refuses;
 * - with a bearer token configured every request must carry it (401); listening beyond
 *   loopback without one is refused before the socket is bound;
 * - an image arrives as the body of its publish request, checked against the ledger first:
 *   the API never reads a file a client names.
 */
export interface ApiError {
  readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 503 | 504
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

export interface PublishOptions extends SubmitOptions {
  /** The request's Content-Length, or null for a chunked body. */
  readonly declaredBytes: number | null
}

export interface NodeApiHandlers {
  status(): unknown
  peers(): unknown
  releases(product: string | undefined): Promise<unknown>
  release(id: string): Promise<ApiResult<unknown>>
  /** How far a release has rolled out, per wave and device (src/agent/rollout-view.ts). */
  rollout(id: string): Promise<ApiResult<unknown>>
  devices(): Promise<unknown>
  /** Every role held on the ledger: who, which role, for which products, since when. */
  roles(): Promise<unknown>
  audit(index: string, key: string): Promise<ApiResult<unknown>>
  downloads(): unknown
  /** A signed transaction envelope, as bytes. */
  submitTx(envelope: Uint8Array, options: SubmitOptions): Promise<ApiResult<unknown>>
  /**
   * Checks a signed `release.publish` against the ledger without submitting it: a publisher
   * learns that it may not publish before it spends minutes chunking an image.
   */
  checkPublish(envelope: Uint8Array): Promise<ApiResult<unknown>>
  /**
   * Publishes a release with its image. `image()` starts reading the request body (and tells
   * a client that waits for "100 Continue" to send it); a handler that refuses the release
   * first never calls it, so nothing of a refused image is read.
   */
  publishRelease(
    envelope: Uint8Array,
    image: () => AsyncIterable<Uint8Array>,
    options: PublishOptions,
  ): Promise<ApiResult<unknown>>
  /** Prometheus text exposition. */
  metrics(): string | Promise<string>
}

/** Who may talk to the API besides loopback clients that name the bound address. */
export interface ApiAccess {
  /** Host names (or addresses) a client may name in its Host header, beyond the defaults. */
  readonly allowedHosts?: readonly string[]
  /** A bearer token every request must carry; required when the API listens beyond loopback. */
  readonly token?: string | null
  /**
   * Whether the node behind the API is up. The node binds its API before anything else starts
   * (a taken port stops it at once, before it joins consensus); until then every request gets
   * 503 `starting`.
   */
  readonly ready?: () => boolean
}

/** The header a publish request carries its signed transaction in (base64). */
export const PUBLISH_TX_HEADER = 'fwmesh-tx'

/** The API refused to start; the message is one sentence for an operator. */
export class ApiStartError extends Error {
  override name = 'ApiStartError'
}

/** True for addresses and names that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = normalizeHostname(host)
  if (h === 'localhost' || h.endsWith('.localhost')) return true
  if (isIPv4(h)) return h.startsWith('127.')
  if (isIPv6(h)) return h === '::1' || /^::ffff:127\./.test(h)
  return false
}

function normalizeHostname(host: string): string {
  return host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
}

/** The host name of a Host header value ("name:port", "[v6]:port"), or null when malformed. */
function hostnameOf(header: string): string | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(header.trim())
  return m ? normalizeHostname(m[1]!) : null
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::'])

/**
 * Whether a Host header's name may reach the API: the bound address, localhost, a configured
 * name, and for a wildcard bind every address of this machine's interfaces (read again when
 * needed: DHCP may change them while the node runs).
 */
function hostChecker(boundHost: string, configured: readonly string[]): (hostname: string) => boolean {
  if (configured.includes('*')) return () => true
  const names = new Set(['localhost', '127.0.0.1', '::1', normalizeHostname(boundHost)])
  for (const name of configured) names.add(normalizeHostname(name))
  const wildcard = WILDCARD_HOSTS.has(normalizeHostname(boundHost))
  return (hostname) =>
    names.has(hostname) ||
    (wildcard &&
      Object.values(networkInterfaces()).some((list) =>
        (list ?? []).some((a) => normalizeHostname(a.address) === hostname),
      ))
}

/** What the API answers: JSON, or the metrics' text. */
type Answer =
  | { readonly status: number; readonly json: unknown; readonly headers?: Record<string, string> }
  | { readonly status: number; readonly text: string; readonly contentType: string }

function errorAnswer(error: ApiError, headers?: Record<string, string>): Answer {
  return {
    status: error.status,
    json: { error: error.message, code: error.code },
    ...(headers ? { headers } : {}),
  }
}

function write(res: ServerResponse, answer: Answer, extra: Record<string, string>): void {
  const [text, type] =
    'json' in answer
      ? [`${JSON.stringify(toPlainJson(answer.json))}\n`, 'application/json']
      : [answer.text, answer.contentType]
  res.writeHead(answer.status, {
    'content-type': type,
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...('json' in answer ? answer.headers : {}),
    ...extra,
  })
  res.end(text)
}

function failure(status: ApiError['status'], code: string, message: string): ApiResult<never> {
  return { ok: false, error: { status, code, message } }
}

/** The media type of a Content-Type header, lower case, without parameters. */
function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
}

function digest(text: string): Uint8Array {
  return sha256(new TextEncoder().encode(text))
}

/** Constant-time comparison of a presented bearer token with the configured one. */
function tokenMatches(header: string | undefined, expected: Uint8Array): boolean {
  const m = /^Bearer ([^\s]+)$/i.exec(header ?? '')
  // Hashing both sides makes the comparison length-independent.
  return m !== null && timingSafeEqual(digest(m[1]!), expected)
}

/** The refusal of a request that may not reach a handler, or null when it may. */
function guard(
  req: IncomingMessage,
  hostAllowed: (hostname: string) => boolean,
  tokenDigest: Uint8Array | null,
): Answer | null {
  const hostHeader = req.headers.host ?? ''
  const hostname = hostnameOf(hostHeader)
  if (hostname === null || !hostAllowed(hostname)) {
    return errorAnswer({
      status: 403,
      code: 'forbidden-host',
      message: `Host "${hostHeader.slice(0, 100)}" is not this API's address; add it to api.allowed_hosts to allow it`,
    })
  }
  // Browsers say where a request comes from; other clients (the CLI, curl) send neither header.
  // The API's own origin is its Host, over http (or https behind a TLS proxy).
  const origin = req.headers.origin?.toLowerCase()
  const site = req.headers['sec-fetch-site']
  const own = hostHeader.toLowerCase()
  const sameOrigin = origin === undefined || origin === `http://${own}` || origin === `https://${own}`
  if (!sameOrigin || (site !== undefined && site !== 'same-origin' && site !== 'none')) {
    return errorAnswer({ status: 403, code: 'cross-origin', message: 'cross-origin requests are refused' })
  }
  if (tokenDigest && !tokenMatches(req.headers.authorization, tokenDigest)) {
    return errorAnswer(
      {
        status: 401,
        code: 'unauthorized',
        message: 'this API needs its bearer token (Authorization: Bearer <token>)',
      },
      { 'www-authenticate': 'Bearer realm="fwmesh"' },
    )
  }
  return null
}

/** Reads a JSON body of at most API_BODY_BYTES_MAX bytes; the caller has checked its type. */
async function readJson(req: IncomingMessage, proceed: () => void): Promise<ApiResult<unknown>> {
  const tooLarge = failure(413, 'too-large', `request body over ${API_BODY_BYTES_MAX} bytes`)
  if (Number(req.headers['content-length'] ?? 0) > API_BODY_BYTES_MAX) return tooLarge
  proceed()
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength
    if (size > API_BODY_BYTES_MAX) return tooLarge
    chunks.push(chunk as Buffer)
  }
  return parseJsonBody(Buffer.concat(chunks))
}

function bad(message: string): ApiResult<never> {
  return failure(400, 'malformed', message)
}

/** The path's segments, %-decoded; null when a segment's escapes are malformed. */
function pathSegments(pathname: string): string[] | null {
  try {
    return pathname
      .split('/')
      .filter((p) => p.length > 0)
      .map(decodeURIComponent)
  } catch {
    return null
  }
}

function waitMsOf(url: URL): number {
  return Math.min(Math.max(Number(url.searchParams.get('waitMs') ?? 0) || 0, 0), API_WAIT_MS_MAX)
}

/**
 * Every route the API answers, as "METHOD /path/{parameter}": `route()` dispatches on this list
 * (a route added here and not handled there fails the type check), and docs/api/openapi.json
 * documents exactly these (test/node/openapi.test.ts checks both ways). A literal segment is
 * listed before a parameter in its place, so `POST /v1/releases/check` is not a release id.
 */
export const API_ROUTES = [
  'GET /v1/status',
  'GET /v1/peers',
  'GET /v1/releases',
  'GET /v1/releases/{id}',
  'GET /v1/releases/{id}/rollout',
  'GET /v1/devices',
  'GET /v1/roles',
  'GET /v1/audit/{index}/{key}',
  'GET /v1/downloads',
  'POST /v1/tx',
  'POST /v1/releases/check',
  'POST /v1/releases',
  'GET /metrics',
] as const

export type ApiRoute = (typeof API_ROUTES)[number]

/** Each route's method and path segments; a `{name}` segment is a parameter. */
const ROUTE_PATTERNS = API_ROUTES.map((route) => {
  const [method, path] = route.split(' ') as [string, string]
  return { route, method, segments: path.split('/').filter((s) => s.length > 0) }
})

/**
 * The route a request names, with its path parameters (%-decoded segments), or null. Every
 * segment must match: a path with more or fewer segments than a route is no route.
 */
export function matchRoute(
  method: string,
  segments: readonly string[],
): { route: ApiRoute; params: Record<string, string> } | null {
  for (const pattern of ROUTE_PATTERNS) {
    if (pattern.method !== method || pattern.segments.length !== segments.length) continue
    const params: Record<string, string> = {}
    const fits = pattern.segments.every((s, i) => {
      if (s.startsWith('{')) params[s.slice(1, -1)] = segments[i]!
      else if (s !== segments[i]) return false
      return true
    })
    if (fits) return { route: pattern.route, params }
  }
  return null
}

interface Exchange {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  /** The client waits for "100 Continue" before it sends its body. */
  readonly expectsContinue: boolean
  /** The body was (or is being) read. */
  bodyOpened: boolean
}

const malformedPath = (message: string): Answer =>
  errorAnswer({ status: 400, code: 'malformed-path', message })

async function route(handlers: NodeApiHandlers, ex: Exchange): Promise<Answer> {
  const { req, res } = ex
  let url: URL
  try {
    url = new URL(req.url ?? '/', 'http://localhost')
  } catch {
    return malformedPath('the request URL is malformed')
  }
  const parts = pathSegments(url.pathname)
  if (parts === null) return malformedPath('the request path has a malformed %-escape')
  const method = req.method ?? 'GET'
  const ok = (json: unknown): Answer => ({ status: 200, json })
  const respond = (r: ApiResult<unknown>): Answer => (r.ok ? ok(r.value) : errorAnswer(r.error))
  const openBody = () => {
    if (ex.bodyOpened) return
    ex.bodyOpened = true
    if (ex.expectsContinue) res.writeContinue()
  }
  const json = async (): Promise<ApiResult<Record<string, unknown>>> => {
    if (mediaType(req) !== 'application/json')
      return failure(415, 'unsupported-media-type', 'a JSON body needs Content-Type: application/json')
    const body = await readJson(req, openBody)
    if (!body.ok) return body
    if (typeof body.value !== 'object' || Array.isArray(body.value))
      return bad('the request body is not a JSON object')
    return { ok: true, value: body.value as Record<string, unknown> }
  }

  const matched = matchRoute(method, parts)
  if (!matched)
    return errorAnswer({ status: 404, code: 'not-found', message: `no route ${method} ${url.pathname}` })
  const { id, index, key } = matched.params
  switch (matched.route) {
    case 'GET /metrics':
      return { status: 200, text: await handlers.metrics(), contentType: 'text/plain; version=0.0.4' }
    case 'GET /v1/status':
      return ok(handlers.status())
    case 'GET /v1/peers':
      return ok(handlers.peers())
    case 'GET /v1/releases':
      return ok(await handlers.releases(url.searchParams.get('product') ?? undefined))
    case 'GET /v1/releases/{id}':
      return respond(await handlers.release(id!))
    case 'GET /v1/releases/{id}/rollout':
      return respond(await handlers.rollout(id!))
    case 'GET /v1/devices':
      return ok(await handlers.devices())
    case 'GET /v1/roles':
      return ok(await handlers.roles())
    case 'GET /v1/audit/{index}/{key}':
      return respond(await handlers.audit(index!, key!))
    case 'GET /v1/downloads':
      return ok(handlers.downloads())
    case 'POST /v1/tx': {
      const doc = await json()
      if (!doc.ok) return respond(doc)
      const envelope = decodeTxRequest(doc.value)
      if (!envelope.ok) return respond(envelope)
      return respond(await handlers.submitTx(envelope.value, { waitMs: waitMsOf(url) }))
    }
    case 'POST /v1/releases/check': {
      const doc = await json()
      if (!doc.ok) return respond(doc)
      const envelope = decodeTxRequest(doc.value)
      if (!envelope.ok) return respond(envelope)
      return respond(await handlers.checkPublish(envelope.value))
    }
    case 'POST /v1/releases': {
      if (mediaType(req) !== 'application/octet-stream')
        return respond(
          failure(
            415,
            'unsupported-media-type',
            'an image body needs Content-Type: application/octet-stream',
          ),
        )
      const txHeader = req.headers[PUBLISH_TX_HEADER]
      if (typeof txHeader !== 'string' || txHeader.length === 0)
        return respond(
          bad(`expected the signed release.publish transaction in the ${PUBLISH_TX_HEADER} header (base64)`),
        )
      const length = req.headers['content-length']
      const image = () => {
        openBody()
        return req
      }
      const envelope = decodeTxRequest({ tx: txHeader })
      if (!envelope.ok) return respond(envelope)
      const options = { waitMs: waitMsOf(url), declaredBytes: length === undefined ? null : Number(length) }
      return respond(await handlers.publishRelease(envelope.value, image, options))
    }
  }
}

/**
 * Whether the connection must close after the answer: the request's body was not read to its
 * end, and it is an image a client would upload in vain, one it holds back until "100
 * Continue", or one a handler stopped reading midway. A small unread body is read and dropped
 * by node:http, which keeps the connection.
 */
function mustClose(ex: Exchange): boolean {
  if (ex.req.complete) return false
  const length = ex.req.headers['content-length']
  const chunked = length === undefined && ex.req.headers['transfer-encoding'] !== undefined
  return ex.bodyOpened || ex.expectsContinue || chunked || Number(length ?? 0) > API_BODY_BYTES_MAX
}

/** Starts the API server; resolves once it listens. Refuses a listen beyond loopback without a token. */
export async function startApi(
  handlers: NodeApiHandlers,
  host: string,
  port: number,
  access: ApiAccess = {},
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const token = access.token ?? null
  if (!token && !isLoopbackHost(host)) {
    throw new ApiStartError(
      `api.listen ${host.includes(':') ? `[${host}]` : host}:${port} is beyond loopback: set api.token_file (a bearer token every client must send) or listen on 127.0.0.1`,
    )
  }
  const hostAllowed = hostChecker(host, access.allowedHosts ?? [])
  const tokenDigest = token ? digest(token) : null
  const handle = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean) => {
    const ex: Exchange = { req, res, expectsContinue, bodyOpened: false }
    const answer = (a: Answer) => write(res, a, mustClose(ex) ? { connection: 'close' } : {})
    const refused = guard(req, hostAllowed, tokenDigest)
    if (refused) return answer(refused)
    if (access.ready && !access.ready())
      return answer({
        status: 503,
        json: { error: 'the node is starting; try again in a moment', code: 'starting' },
      })
    route(handlers, ex).then(answer, (cause: unknown) => {
      // A handler bug must not take the node down; the caller sees a 500 with one sentence.
      if (res.headersSent) res.destroy()
      else
        answer({
          status: 500,
          json: { error: `internal error: ${(cause as Error).message}`, code: 'internal' },
        })
    })
  }
  const server = createServer((req, res) => handle(req, res, false))
  server.on('checkContinue', (req, res) => handle(req, res, true))
  // Slow or idle clients must not hold sockets forever: headers must arrive within seconds, and
  // a connection idle (no byte either way) longer than a commit wait is closed. There is no cap
  // on a whole request: an image upload takes as long as its bytes keep flowing.
  server.requestTimeout = 0
  server.timeout = API_IDLE_MS
  server.headersTimeout = API_HEADERS_MS
  server.maxConnections = API_CONNECTIONS_MAX
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
