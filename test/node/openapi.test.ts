import { readFileSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/codec/bytes.js'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import type { SignedTx } from '../../src/ledger/tx.js'
import { API_ROUTES, type ApiRoute, PUBLISH_TX_HEADER } from '../../src/node/api.js'
import { Node } from '../../src/node/daemon.js'
import { makeLogger } from '../../src/node/log.js'
import { type Cluster, eventuallyProgressing, startCluster } from '../helpers/cluster.js'
import { type JsonSchema, resolvePointer, unknownKeywords, validate } from '../helpers/json-schema.js'
import { commitAll, deviceConfig, makeImage, publishTx } from '../helpers/release.js'

/**
 * docs/api/openapi.json (issue 20 part 5): a valid OpenAPI 3.1 document that describes exactly
 * the routes the API answers (API_ROUTES), checked against a live node over real HTTP: every
 * answer's status must be one the document lists for its route, and its body must validate
 * against the documented schema, which is strict where the shape is fixed.
 */

type Json = Record<string, unknown>
const DOC = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'api', 'openapi.json'), 'utf8'),
) as Json
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const
const paths = DOC.paths as Record<string, Record<string, Json>>
const schemas = (DOC.components as { schemas: Record<string, JsonSchema> }).schemas

/** Every operation of the document, with its route in API_ROUTES' notation. */
function operations(): Array<{ route: string; op: Json; pathItem: Record<string, Json> }> {
  return Object.entries(paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m] !== undefined).map((m) => ({
      route: `${m.toUpperCase()} ${path}`,
      op: item[m]!,
      pathItem: item,
    })),
  )
}

/** A `$ref`'d object, or the object itself. */
function deref<T>(value: T): T {
  const r = (value as { $ref?: string }).$ref
  return r ? (resolvePointer(DOC, r) as T) : value
}

/** Every value of `node` (recursively) that is an object, with its JSON path. */
function* objectsIn(node: unknown, path = '#'): Generator<[string, Json]> {
  if (node === null || typeof node !== 'object') return
  if (!Array.isArray(node)) yield [path, node as Json]
  for (const [k, v] of Object.entries(node)) yield* objectsIn(v, `${path}/${k}`)
}

describe('docs/api/openapi.json: a valid OpenAPI 3.1 document', () => {
  it('says it is OpenAPI 3.1, with a title, a version and a bearer scheme', () => {
    expect(DOC.openapi).toMatch(/^3\.1\.\d+$/)
    expect(DOC.info).toMatchObject({ title: expect.any(String), version: expect.any(String) })
    expect(DOC.components).toMatchObject({ securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } })
  })

  it('has a $ref that resolves wherever it has one', () => {
    const refs = [...objectsIn(DOC)].filter(([, o]) => typeof o.$ref === 'string')
    expect(refs.length).toBeGreaterThan(20)
    for (const [at, o] of refs) expect(() => resolvePointer(DOC, o.$ref as string), at).not.toThrow()
  })

  it('gives every operation an id of its own and responses, each with a description', () => {
    const ids = operations().map(({ op }) => op.operationId)
    expect(new Set(ids).size).toBe(ids.length)
    for (const { route, op } of operations()) {
      const responses = Object.entries((op.responses ?? {}) as Json)
      expect(responses.length, route).toBeGreaterThan(0)
      for (const [status, response] of responses) {
        expect(status, route).toMatch(/^[1-5]\d\d$/)
        expect(deref(response as Json).description, `${route} ${status}`).toEqual(expect.any(String))
      }
    }
  })

  it('declares every path parameter its template names, and no other', () => {
    for (const { route, op, pathItem } of operations()) {
      const inTemplate = [...route.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort()
      const params = [...((pathItem.parameters ?? []) as Json[]), ...((op.parameters ?? []) as Json[])].map(
        deref,
      )
      const declared = params.filter((p) => p.in === 'path')
      expect(declared.map((p) => p.name).sort(), route).toEqual(inTemplate)
      for (const p of declared) expect(p.required, `${route} {${p.name}}`).toBe(true)
      for (const p of params) expect(['path', 'query', 'header', 'cookie'], route).toContain(p.in)
    }
  })

  it('uses only schema keywords the test validator implements', () => {
    const inline = [...objectsIn(DOC.paths)].filter(([path]) => path.endsWith('/schema'))
    for (const [at, schema] of [...Object.entries(schemas), ...inline])
      expect(unknownKeywords(schema as JsonSchema), at).toEqual([])
  })

  it('documents exactly the routes the API answers (API_ROUTES): a route added without docs fails here', () => {
    expect(
      operations()
        .map((o) => o.route)
        .sort(),
    ).toEqual([...API_ROUTES].sort())
  })
})

interface Reply {
  readonly status: number
  readonly contentType: string
  readonly text: string
  readonly continued: boolean
}

/** One request over real HTTP to 127.0.0.1, with the headers a client sends. */
function send(
  port: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Buffer; expectContinue?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let continued = false
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        headers: {
          ...(options.body !== undefined
            ? { 'content-length': String(Buffer.byteLength(options.body)) }
            : {}),
          ...(options.expectContinue ? { expect: '100-continue' } : {}),
          ...options.headers,
        },
      },
      (res) => {
        const parts: Buffer[] = []
        res.on('data', (d: Buffer) => parts.push(d))
        res.on('end', () => {
          req.destroy()
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            text: Buffer.concat(parts).toString('utf8'),
            continued,
          })
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    if (options.expectContinue)
      req.on('continue', () => {
        continued = true
        req.end(options.body)
      })
    else req.end(options.body)
  })
}

/** Statuses each route was seen to answer, over the whole live run. */
const seen = new Map<string, Set<number>>()

/**
 * Sends a request for `route` and checks the answer against the document: its status is one
 * the route lists, its content type is the documented one, and a JSON body validates against
 * the documented schema. Returns the parsed body.
 */
async function call(
  port: number,
  route: ApiRoute,
  path: string,
  options: Parameters<typeof send>[3] = {},
): Promise<{ status: number; body: unknown; continued: boolean }> {
  const [method, template] = route.split(' ') as [string, string]
  const reply = await send(port, method, path, options)
  const what = `${method} ${path} answered ${reply.status} ${reply.text.slice(0, 300)}`
  const op = paths[template]?.[method.toLowerCase()]
  expect(op, `${route} is documented`).toBeDefined()
  const documented = (op!.responses as Json)[String(reply.status)]
  expect(documented, `${what}: a status the document lists for ${route}`).toBeDefined()
  const content = deref(documented as Json).content as Record<string, { schema?: JsonSchema }>
  const media = reply.contentType.split(';')[0]!.trim()
  expect(Object.keys(content), what).toContain(media)
  let body: unknown = reply.text
  if (media === 'application/json') {
    body = JSON.parse(reply.text)
    expect(validate(content[media]!.schema!, body, DOC), what).toEqual([])
  } else {
    expect(validate(content[media]!.schema ?? true, body, DOC), what).toEqual([])
  }
  seen.set(route, (seen.get(route) ?? new Set()).add(reply.status))
  return { status: reply.status, body, continued: reply.continued }
}

const jsonHeaders = { 'content-type': 'application/json' }
const txJson = (tx: SignedTx) => JSON.stringify({ tx: Buffer.from(tx.bytes).toString('base64') })
const GET_ROUTES = API_ROUTES.filter((r) => r.startsWith('GET '))

describe('docs/api/openapi.json against a live node (real HTTP, loopback)', () => {
  let cluster: Cluster
  let origin: Node
  let device: Node
  /** A node with a bearer token (api.token_file), as one listening beyond loopback must have. */
  let guarded: Node
  const token = 'openapi-test-token-0123456789'
  let f: TxFactory
  let image: Awaited<ReturnType<typeof makeImage>>
  let release: SignedTx
  let revoked: SignedTx

  beforeAll(async () => {
    cluster = await startCluster({ seed: 'openapi', validators: 1 })
    origin = cluster.validators[0]!
    device = await cluster.addFollower({
      name: 'device',
      device: deviceConfig(join(cluster.dir, 'installed')),
    })
    f = new TxFactory(cluster.chain)
    const outsider = cluster.chain.key('outsider').publicKey
    await commitAll(origin, [
      ...f.bootstrap(),
      f.registerDevice(device.keys.publicKey, 'gw', 'rev-a'),
      f.grantRole(outsider, 'approver'),
      f.revokeRole(outsider, 'approver'),
    ])
    image = await makeImage(cluster.dir, 'fw-1.img', 300 * 1024, 'openapi-image')
    const tokenFile = join(cluster.dir, 'api-token')
    await writeFile(tokenFile, `${token}\n`)
    const dataDir = join(cluster.dir, 'guarded')
    guarded = await Node.start(
      {
        ...device.config,
        dataDir,
        keyPath: join(dataDir, 'node.key'),
        device: null,
        api: { ...device.config.api, port: 0, tokenFile },
        network: { ...device.config.network, bootstrap: origin.addresses().slice(0, 1) },
      },
      { log: makeLogger('silent') },
    )
  }, 90_000)
  afterAll(async () => {
    await guarded?.stop()
    await cluster?.stop()
  })

  it('publishes a release with its image as the CLI does (100-continue, the tx in a header), answered as documented', async () => {
    release = publishTx(f, image, '1.0.0')
    const r = await call(origin.apiPort, 'POST /v1/releases', '/v1/releases?waitMs=20000', {
      headers: {
        'content-type': 'application/octet-stream',
        [PUBLISH_TX_HEADER]: Buffer.from(release.bytes).toString('base64'),
      },
      body: await readFile(image.path),
      expectContinue: true,
    })
    expect(r.status).toBe(200)
    expect(r.continued).toBe(true)
    expect(r.body).toMatchObject({ id: release.idString, status: 'committed', chunks: 2 })
  })

  it('takes approvals over POST /v1/tx, and the device installs the release', {
    timeout: 180_000,
  }, async () => {
    for (const approver of cluster.chain.approvers) {
      const r = await call(origin.apiPort, 'POST /v1/tx', '/v1/tx?waitMs=20000', {
        headers: jsonHeaders,
        body: txJson(f.approve(release.id, approver)),
      })
      expect(r.body).toMatchObject({ status: 'committed' })
    }
    const pending = await call(origin.apiPort, 'POST /v1/tx', '/v1/tx', {
      headers: jsonHeaders,
      body: txJson(publishTx(f, image, '2.0.0')),
    })
    expect(pending.status).toBe(200)
    revoked = publishTx(f, image, '3.0.0')
    await commitAll(origin, [revoked, f.revoke(revoked.id, 'withdrawn')])
    const installed = () => origin.ledger.ledger.device(device.keys.publicKey)?.installed?.version === '1.0.0'
    await eventuallyProgressing(
      'the device reported 1.0.0 installed on the ledger',
      () => installed() || undefined,
      () => (device.transfer.downloads()[0]?.held ?? 0) + (installed() ? 1 : 0),
    )
    // A paused release: its answers carry the pause, and the audit has a release.pause row.
    await commitAll(origin, [f.control('release.pause', release.id, 'checking the API')])
    // The other nodes hold every block the origin has now, so their answers are complete too.
    const height = origin.ledger.ledger.head.height
    const behind = () => [device, guarded].filter((n) => n.ledger.ledger.head.height < height)
    await eventuallyProgressing(
      "the device and the guarded node synced the origin's head",
      () => behind().length === 0 || undefined,
      () => device.ledger.ledger.head.height + guarded.ledger.ledger.head.height,
    )
  })

  it('answers every GET route as documented, on a validator and on a device', async () => {
    const hexOf = (key: Uint8Array) => toHex(key)
    for (const node of [origin, device]) {
      const port = node.apiPort
      const status = await call(port, 'GET /v1/status', '/v1/status')
      expect(status.body).toMatchObject({ role: node === origin ? 'validator' : 'follower' })
      expect((status.body as Json).device === null).toBe(node === origin)
      expect((await call(port, 'GET /v1/peers', '/v1/peers')).body).not.toEqual([])
      const releases = (await call(port, 'GET /v1/releases', '/v1/releases')).body as Json[]
      expect(releases.map((r) => r.version)).toEqual(expect.arrayContaining(['1.0.0', '3.0.0']))
      expect((await call(port, 'GET /v1/releases', '/v1/releases?product=gw')).body).toEqual(releases)
      expect((await call(port, 'GET /v1/releases', '/v1/releases?product=other')).body).toEqual([])
      for (const r of [release, revoked])
        expect((await call(port, 'GET /v1/releases/{id}', `/v1/releases/${r.idString}`)).status).toBe(200)
      for (const r of [release, revoked]) {
        const rollout = await call(
          port,
          'GET /v1/releases/{id}/rollout',
          `/v1/releases/${r.idString}/rollout`,
        )
        expect(rollout.status).toBe(200)
        expect((rollout.body as Json).eligible).toBe(r === release ? 1 : 0)
      }
      expect((await call(port, 'GET /v1/devices', '/v1/devices')).body).toHaveLength(1)
      expect((await call(port, 'GET /v1/roles', '/v1/roles')).body).not.toEqual([])
      const audits = [
        ['release', release.idString],
        ['release', revoked.idString],
        ['device', hexOf(device.keys.publicKey)],
        ['product', 'gw'],
        ['signer', hexOf(cluster.chain.admin.publicKey)],
        ['signer', hexOf(cluster.chain.registrar.publicKey)],
      ]
      const types = new Set<unknown>()
      for (const [index, key] of audits) {
        const rows = await call(port, 'GET /v1/audit/{index}/{key}', `/v1/audit/${index}/${key}`)
        expect(rows.status).toBe(200)
        for (const row of rows.body as Json[]) types.add(row.type)
      }
      // Every kind of transaction was among the rows, so each branch of AuditRow was checked.
      expect([...types].sort()).toEqual([
        'device.register',
        'install.report',
        'release.approve',
        'release.pause',
        'release.publish',
        'release.revoke',
        'role.grant',
        'role.revoke',
      ])
      expect((await call(port, 'GET /v1/downloads', '/v1/downloads')).body).not.toEqual([])
      const metrics = await call(port, 'GET /metrics', '/metrics')
      expect(metrics.body).toMatch(/^fwmesh_head_height \d+$/m)
    }
    expect(((await call(device.apiPort, 'GET /v1/status', '/v1/status')).body as Json).device).toMatchObject({
      installedVersion: '1.0.0',
    })
  })

  it('answers POST /v1/releases/check as documented: taken, refused by the ledger (422), not a publish (400)', async () => {
    const check = (tx: SignedTx) =>
      call(origin.apiPort, 'POST /v1/releases/check', '/v1/releases/check', {
        headers: jsonHeaders,
        body: txJson(tx),
      })
    expect((await check(publishTx(f, image, '4.0.0'))).body).toEqual({ ok: true })
    const refused = await check(publishTx(f, image, '0.5.0'))
    expect(refused).toMatchObject({ status: 422, body: { code: 'publish.not-newer' } })
    expect(await check(f.approve(release.id, cluster.chain.approvers[0]!))).toMatchObject({
      status: 400,
      body: { code: 'tx.malformed' },
    })
  })

  it('answers the documented errors of requests: 404, 400, 413, 415, 422', async () => {
    const port = origin.apiPort
    const missing = await call(port, 'GET /v1/releases/{id}', `/v1/releases/${cluster.chain.genesis.chainId}`)
    expect(missing).toMatchObject({ status: 404, body: { code: 'not-found' } })
    expect(await call(port, 'GET /v1/audit/{index}/{key}', '/v1/audit/nonsense/x')).toMatchObject({
      status: 404,
      body: { code: 'not-found' },
    })
    expect(await call(port, 'GET /v1/releases/{id}', '/v1/releases/%E0%A4%A')).toMatchObject({
      status: 400,
      body: { code: 'malformed-path' },
    })
    const tx = (body: string, headers: Record<string, string> = jsonHeaders, expectContinue = false) =>
      call(port, 'POST /v1/tx', '/v1/tx', { headers, body, expectContinue })
    expect(await tx('{"tx": ')).toMatchObject({ status: 400, body: { code: 'malformed' } })
    expect(await tx('{"tx": "AAAA"}')).toMatchObject({ status: 400, body: { code: 'tx.malformed' } })
    expect(await tx(txJson(release), { 'content-type': 'text/plain' })).toMatchObject({
      status: 415,
      body: { code: 'unsupported-media-type' },
    })
    expect(await tx(JSON.stringify({ tx: 'A'.repeat(70_000) }), jsonHeaders, true)).toMatchObject({
      status: 413,
      body: { code: 'too-large' },
    })
    expect(await tx(txJson(publishTx(f, image, '0.5.0')))).toMatchObject({
      status: 422,
      body: { code: 'publish.not-newer' },
    })
    expect(
      await tx(txJson(f.approve(release.id, cluster.chain.approvers[0]!))),
      'a second approval by the same approver',
    ).toMatchObject({ status: 422, body: { code: 'approve.duplicate' } })

    const publish = (headers: Record<string, string>, body: Buffer) =>
      call(port, 'POST /v1/releases', '/v1/releases', { headers, body, expectContinue: true })
    const octets = { 'content-type': 'application/octet-stream' }
    const header = (t: SignedTx) => ({ [PUBLISH_TX_HEADER]: Buffer.from(t.bytes).toString('base64') })
    expect(await publish(octets, Buffer.alloc(10))).toMatchObject({
      status: 400,
      body: { code: 'malformed' },
    })
    expect(await publish({ ...jsonHeaders, ...header(release) }, Buffer.alloc(10))).toMatchObject({
      status: 415,
    })
    const next = publishTx(f, image, '5.0.0')
    expect(await publish({ ...octets, ...header(next) }, Buffer.alloc(1000))).toMatchObject({
      status: 400,
      body: { code: 'image.size' },
      continued: false,
    })
    expect(
      await publish({ ...octets, ...header(publishTx(f, image, '0.5.0')) }, Buffer.alloc(10)),
    ).toMatchObject({
      status: 422,
      body: { code: 'publish.not-newer' },
      continued: false,
    })
    // The refusals are in the status now, in their documented shape.
    const status = (await call(port, 'GET /v1/status', '/v1/status')).body as { rejections: Json[] }
    expect(status.rejections.map((r) => r.code)).toContain('publish.not-newer')
    // No route at all: not in the document, and still an Error.
    const none = await send(port, 'GET', '/v1/nothing')
    expect(none.status).toBe(404)
    expect(validate(schemas.Error!, JSON.parse(none.text), DOC)).toEqual([])
  })

  it('refuses a foreign Host or a cross-origin request with 403 on every route, as documented', async () => {
    for (const route of API_ROUTES) {
      const [method, template] = route.split(' ') as [string, string]
      const path = template
        .replace('{id}', release.idString)
        .replace('{index}', 'product')
        .replace('{key}', 'gw')
      const body = method === 'POST' ? '{}' : undefined
      const foreign = await call(origin.apiPort, route, path, { headers: { host: 'rebind.example' }, body })
      expect(foreign, route).toMatchObject({ status: 403, body: { code: 'forbidden-host' } })
      const cross = await call(origin.apiPort, route, path, {
        headers: { origin: 'http://evil.example' },
        body,
      })
      expect(cross, route).toMatchObject({ status: 403, body: { code: 'cross-origin' } })
    }
  })

  it('with a bearer token, answers 401 on every route without it, and 200 with it', async () => {
    for (const route of API_ROUTES) {
      const [method, template] = route.split(' ') as [string, string]
      const path = template
        .replace('{id}', release.idString)
        .replace('{index}', 'product')
        .replace('{key}', 'gw')
      const r = await call(guarded.apiPort, route, path, method === 'POST' ? { body: '{}' } : {})
      expect(r, route).toMatchObject({ status: 401, body: { code: 'unauthorized' } })
    }
    for (const route of GET_ROUTES) {
      const path = route
        .slice(4)
        .replace('{id}', release.idString)
        .replace('{index}', 'product')
        .replace('{key}', 'gw')
      const r = await call(guarded.apiPort, route, path, { headers: { authorization: `Bearer ${token}` } })
      expect(r.status, `${route} ${JSON.stringify(r.body)}`).toBe(200)
    }
  })

  it('saw every route answer 200 at least once', () => {
    for (const route of API_ROUTES) expect([...(seen.get(route) ?? [])], route).toContain(200)
  })
})
