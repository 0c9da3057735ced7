import { request } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { API_ROUTES, matchRoute, type NodeApiHandlers, startApi } from '../../src/node/api.js'

/** What the fake handlers were asked, so a test can tell that a refused request reached nothing. */
interface Calls {
  readonly names: string[]
  /** Bytes of image bodies the publish handler read. */
  imageBytes: number
}

function fakeHandlers(calls: Calls, publishVerdict: 'accept' | 'refuse' = 'accept'): NodeApiHandlers {
  /** Records the call, then answers `value`. */
  const called = <T>(name: string, value: T): T => {
    calls.names.push(name)
    return value
  }
  return {
    status: () => called('status', { ok: true }),
    peers: () => called('peers', []),
    releases: async () => called('releases', []),
    release: async (id) => called(`release ${id}`, { ok: true, value: { id } }),
    rollout: async (id) => called(`rollout ${id}`, { ok: true, value: { release: id } }),
    devices: async () => called('devices', []),
    roles: async () => called('roles', []),
    audit: async (index, key) => called(`audit ${index} ${key}`, { ok: true, value: [] }),
    downloads: () => called('downloads', []),
    submitTx: async (envelope) => called('submitTx', { ok: true, value: { bytes: envelope.byteLength } }),
    checkPublish: async () => called('checkPublish', { ok: true, value: { ok: true } }),
    publishRelease: async (envelope, image) => {
      called('publishRelease', null)
      if (publishVerdict === 'refuse')
        return { ok: false, error: { status: 422, code: 'publish.not-newer', message: 'not newer' } }
      for await (const chunk of image()) calls.imageBytes += chunk.byteLength
      return { ok: true, value: { tx: envelope.byteLength, bytes: calls.imageBytes } }
    },
    metrics: () => called('metrics', '# metrics\n'),
  }
}

interface Reply {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: string
  /** The server said "100 Continue" before its answer. */
  readonly continued: boolean
}

/**
 * One request over real HTTP on 127.0.0.1, with exactly the headers given (a browser's Host and
 * Origin included, which fetch() would not let a test set).
 */
function send(
  port: number,
  options: {
    method?: string
    path: string
    headers?: Record<string, string>
    body?: string | Buffer
    /** Send the body only after the server's "100 Continue". */
    expectContinue?: boolean
    /** Send no Host header at all. */
    noHost?: boolean
  },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let continued = false
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path,
        setHost: !options.noHost,
        headers: {
          ...(options.noHost ? {} : { host: `127.0.0.1:${port}` }),
          ...(options.expectContinue ? { expect: '100-continue' } : {}),
          ...(options.body !== undefined
            ? { 'content-length': String(Buffer.byteLength(options.body)) }
            : {}),
          ...options.headers,
        },
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => {
          body += d
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, continued }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    if (options.expectContinue) {
      req.on('continue', () => {
        continued = true
        req.end(options.body)
      })
    } else {
      req.end(options.body)
    }
  })
}

describe('node: local API, safe by default', () => {
  const servers: Array<{ close(): Promise<void> }> = []
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close()
  })

  async function start(
    calls: Calls,
    options: Parameters<typeof startApi>[3] = {},
    verdict: 'accept' | 'refuse' = 'accept',
  ) {
    const api = await startApi(fakeHandlers(calls, verdict), '127.0.0.1', 0, options)
    servers.push(api)
    return api.port
  }
  const fresh = (): Calls => ({ names: [], imageBytes: 0 })

  it('answers 503 starting, reaching no handler, until the node behind it is ready', async () => {
    const calls = fresh()
    let ready = false
    const port = await start(calls, { ready: () => ready })
    const early = await send(port, { path: '/v1/roles' })
    expect(early.status).toBe(503)
    expect(JSON.parse(early.body)).toMatchObject({ code: 'starting' })
    expect(calls.names).toEqual([])
    ready = true
    expect((await send(port, { path: '/v1/roles' })).status).toBe(200)
    expect(calls.names).toEqual(['roles'])
  })

  it('answers a request whose Host names the bound address or localhost', async () => {
    const calls = fresh()
    const port = await start(calls)
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost', 'LOCALHOST.:80']) {
      const r = await send(port, { path: '/v1/status', headers: { host } })
      expect(r.status, `Host: ${host}`).toBe(200)
    }
  })

  it('refuses any other Host with 403 (DNS rebinding), before any handler runs', async () => {
    const calls = fresh()
    const port = await start(calls)
    for (const host of [`rebind.example:${port}`, 'rebind.example', `127.0.0.2:${port}`, 'a:b:c']) {
      const r = await send(port, { path: '/v1/status', headers: { host } })
      expect(r.status, `Host: "${host}"`).toBe(403)
      expect(JSON.parse(r.body), `Host: "${host}"`).toMatchObject({ code: 'forbidden-host' })
    }
    const post = await send(port, {
      method: 'POST',
      path: '/v1/tx',
      headers: { host: 'rebind.example', 'content-type': 'application/json' },
      body: '{"tx":"AAAA"}',
    })
    expect(post.status).toBe(403)
    // No Host at all: node:http refuses an HTTP/1.1 request without one (400) before the API sees it.
    const none = await send(port, { path: '/v1/status', headers: {}, noHost: true })
    expect([400, 403]).toContain(none.status)
    expect(calls.names).toEqual([])
  })

  it('answers a Host the configuration allows (api.allowed_hosts)', async () => {
    const calls = fresh()
    const port = await start(calls, { allowedHosts: ['gateway.lan'] })
    expect((await send(port, { path: '/v1/status', headers: { host: `gateway.lan:${port}` } })).status).toBe(
      200,
    )
    expect((await send(port, { path: '/v1/status', headers: { host: 'other.lan' } })).status).toBe(403)
  })

  it('refuses cross-origin browser requests with 403 and never sends CORS headers', async () => {
    const calls = fresh()
    const port = await start(calls)
    const crossSite: Array<Record<string, string>> = [
      { origin: 'http://evil.example' },
      { origin: 'null' },
      { origin: `http://localhost:${port + 1}` },
      { origin: 'http://127.0.0.1' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ]
    for (const headers of crossSite) {
      for (const method of ['GET', 'POST', 'OPTIONS']) {
        const r = await send(port, {
          method,
          path: method === 'POST' ? '/v1/tx' : '/v1/status',
          headers: { ...headers, 'content-type': 'application/json' },
          ...(method === 'POST' ? { body: '{"tx":"AAAA"}' } : {}),
        })
        const what = `${method} with ${JSON.stringify(headers)}`
        expect(r.status, what).toBe(403)
        expect(JSON.parse(r.body), what).toMatchObject({ code: 'cross-origin' })
        expect(
          Object.keys(r.headers).filter((h) => h.startsWith('access-control-')),
          what,
        ).toEqual([])
      }
    }
    expect(calls.names).toEqual([])
    // The page the API itself served (same origin) and a typed-in URL (none) are answered.
    const same = await send(port, {
      path: '/v1/status',
      headers: { origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin' },
    })
    expect(same.status).toBe(200)
    expect((await send(port, { path: '/v1/status', headers: { 'sec-fetch-site': 'none' } })).status).toBe(200)
  })

  it('needs application/json for JSON bodies: 415 otherwise, and the handler is not called', async () => {
    const calls = fresh()
    const port = await start(calls)
    for (const type of [
      undefined,
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data',
    ]) {
      for (const path of ['/v1/tx', '/v1/releases/check']) {
        const r = await send(port, {
          method: 'POST',
          path,
          headers: type ? { 'content-type': type } : {},
          body: '{"tx":"AAAA"}',
        })
        expect(r.status, `${path} as ${type}`).toBe(415)
        expect(JSON.parse(r.body), `${path} as ${type}`).toMatchObject({ code: 'unsupported-media-type' })
      }
    }
    expect(calls.names).toEqual([])
    const ok = await send(port, {
      method: 'POST',
      path: '/v1/tx',
      headers: { 'content-type': 'Application/JSON; charset=utf-8' },
      body: '{"tx":"AAAA"}',
    })
    expect(ok.status).toBe(200)
    expect(calls.names).toEqual(['submitTx'])
  })

  it('answers 400, not 500, to a malformed %-escape or a malformed URL', async () => {
    const calls = fresh()
    const port = await start(calls)
    for (const path of ['/v1/releases/%E0%A4%A', '/v1/audit/%zz/x', '/v1/%', '/%C0%80']) {
      const r = await send(port, { path })
      expect(r.status, path).toBe(400)
      expect(JSON.parse(r.body), path).toMatchObject({ code: 'malformed-path' })
    }
    expect(calls.names).toEqual([])
  })

  it('reads no file a client names: POST /v1/images with a path is no route', async () => {
    const calls = fresh()
    const port = await start(calls)
    const r = await send(port, {
      method: 'POST',
      path: '/v1/images',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: '/etc/passwd', manifest: 'bafy' }),
    })
    expect(r.status).toBe(404)
    expect(calls.names).toEqual([])
  })

  it('streams a published image as the request body, after the check, with 100-continue', async () => {
    const calls = fresh()
    const port = await start(calls)
    const image = Buffer.alloc(300_000, 7)
    const r = await send(port, {
      method: 'POST',
      path: '/v1/releases?waitMs=0',
      headers: {
        'content-type': 'application/octet-stream',
        'fwmesh-tx': Buffer.from('tx').toString('base64'),
      },
      body: image,
      expectContinue: true,
    })
    expect(r.status, r.body).toBe(200)
    expect(r.continued).toBe(true)
    expect(JSON.parse(r.body)).toEqual({ tx: 2, bytes: image.byteLength })
  })

  it('answers a refused publish before the client sends a byte of the image', async () => {
    const calls = fresh()
    const port = await start(calls, {}, 'refuse')
    const r = await send(port, {
      method: 'POST',
      path: '/v1/releases',
      headers: { 'content-type': 'application/octet-stream', 'fwmesh-tx': 'dHg=' },
      body: Buffer.alloc(300_000, 7),
      expectContinue: true,
    })
    expect(r.status).toBe(422)
    expect(r.continued).toBe(false)
    expect(calls.imageBytes).toBe(0)
  })

  it('refuses an image body that is not application/octet-stream (415) or lacks its transaction (400)', async () => {
    const calls = fresh()
    const port = await start(calls)
    const wrongType = await send(port, {
      method: 'POST',
      path: '/v1/releases',
      headers: { 'content-type': 'application/json', 'fwmesh-tx': 'dHg=' },
      body: '{}',
    })
    expect(wrongType.status).toBe(415)
    const noTx = await send(port, {
      method: 'POST',
      path: '/v1/releases',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'image',
    })
    expect(noTx.status).toBe(400)
    expect(calls.names).toEqual([])
  })

  it('with a token, refuses requests without it (401) and answers those that carry it', async () => {
    const calls = fresh()
    const token = 'a-long-enough-secret-token'
    const port = await start(calls, { token })
    for (const authorization of [undefined, 'Bearer wrong', `Basic ${token}`, `Bearer ${token}x`]) {
      const r = await send(port, { path: '/v1/status', headers: authorization ? { authorization } : {} })
      expect(r.status, String(authorization)).toBe(401)
      expect(r.headers['www-authenticate'], String(authorization)).toMatch(/^Bearer/)
    }
    expect((await send(port, { path: '/metrics' })).status).toBe(401)
    expect(calls.names).toEqual([])
    const ok = await send(port, { path: '/v1/status', headers: { authorization: `Bearer ${token}` } })
    expect(ok.status).toBe(200)
  })

  it('matches a route by its method and every path segment, a literal before a parameter', () => {
    const segments = (path: string) => path.split('/').filter((s) => s.length > 0)
    for (const route of API_ROUTES) {
      const [method, path] = route.split(' ') as [string, string]
      expect(matchRoute(method, segments(path.replace(/\{[a-z]+\}/g, 'x')))?.route, route).toBe(route)
    }
    expect(matchRoute('POST', ['v1', 'releases', 'check'])?.route).toBe('POST /v1/releases/check')
    expect(matchRoute('GET', ['v1', 'releases', 'check'])).toEqual({
      route: 'GET /v1/releases/{id}',
      params: { id: 'check' },
    })
    expect(matchRoute('GET', ['v1', 'audit', 'device', 'ab'])?.params).toEqual({ index: 'device', key: 'ab' })
    expect(matchRoute('GET', ['v1', 'releases', 'bafyx', 'rollout'])).toEqual({
      route: 'GET /v1/releases/{id}/rollout',
      params: { id: 'bafyx' },
    })
    for (const [method, path] of [
      ['GET', '/v1/audit/device/ab/more'],
      ['GET', '/v1/status/more'],
      ['GET', '/v1/releases/x/other'],
      ['POST', '/v1/releases/x/rollout'],
      ['POST', '/v1/releases/other'],
      ['DELETE', '/v1/releases/x'],
      ['GET', '/v2/status'],
      ['GET', '/'],
    ] as const)
      expect(matchRoute(method, segments(path)), `${method} ${path}`).toBeNull()
  })

  it('refuses to listen beyond loopback without a token, before it binds', async () => {
    for (const host of ['0.0.0.0', '::', '192.0.2.1', 'gateway.lan']) {
      await expect(startApi(fakeHandlers(fresh()), host, 0), host).rejects.toThrow(
        /beyond loopback.*api\.token_file/,
      )
    }
  })
})
