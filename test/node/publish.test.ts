import { readdir, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NodeClient } from '../../src/cli/api-client.js'
import { CliError } from '../../src/cli/output.js'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import type { SignedTx } from '../../src/ledger/tx.js'
import type { Node } from '../../src/node/daemon.js'
import { Prng } from '../../src/prng.js'
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js'
import { commitAll, makeImage, publishTx } from '../helpers/release.js'

/**
 * Publishing over the node's API (POST /v1/releases): the release is checked against the ledger
 * before a byte of its image is read; the image streams in, is checked against the release, and
 * is seeded only once the release commits. A refused release leaves nothing behind.
 */
describe('node: publishing a release with its image over the API', () => {
  let cluster: Cluster
  let origin: Node
  let client: NodeClient
  let f: TxFactory

  beforeAll(async () => {
    cluster = await startCluster({ seed: 'api-publish' })
    origin = cluster.validators[0]!
    f = new TxFactory(cluster.chain)
    await commitAll(origin, f.bootstrap())
    client = new NodeClient(`http://127.0.0.1:${origin.apiPort}`)
  }, 90_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  /** The files of the origin's image folder, staging included. */
  async function imageFiles(): Promise<string[]> {
    const dir = join(origin.config.dataDir, 'images')
    const top = await readdir(dir)
    const staging = await readdir(join(dir, 'staging')).catch(() => [] as string[])
    return [...top.filter((n) => n !== 'staging'), ...staging.map((n) => `staging/${n}`)].sort()
  }

  async function publishRefused(tx: SignedTx, path: string, size: number) {
    const error = await client.publish(tx, path, size, 10_000).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(CliError)
    return error as CliError
  }

  it('publishes, and seeds the image once the release commits', async () => {
    const image = await makeImage(cluster.dir, 'fw-1.img', 700_000, 'api-publish-1')
    const tx = publishTx(f, image, '1.0.0')
    const r = await client.publish(tx, image.path, image.manifest.imageSize, 20_000)
    expect(r).toMatchObject({
      id: tx.idString,
      status: 'committed',
      manifest: image.cid.toString(),
      chunks: 3,
    })
    const key = image.cid.toString()
    expect(await imageFiles()).toEqual(expect.arrayContaining([`${key}.img`, `${key}.origin`]))
    expect(origin.transfer.staging.keys()).toEqual([])
    expect(origin.transfer.downloads().find((d) => d.manifest === key)).toMatchObject({ held: 3 })
  })

  it('a release the ledger refuses is answered before its image is read: nothing is chunked, kept or seeded', async () => {
    const before = await imageFiles()
    const image = await makeImage(cluster.dir, 'fw-refused.img', 300_000, 'api-publish-refused')
    const cases: Array<[string, SignedTx, RegExp]> = [
      [
        'not a publisher',
        publishTx(f, image, '2.0.0', { by: cluster.chain.key('outsider') }),
        /signer\.unknown/,
      ],
      ['a downgrade', publishTx(f, image, '0.9.0'), /publish\.not-newer/],
      ['the same version again', publishTx(f, image, '1.0.0'), /publish\.not-newer/],
      ['no hardware', publishTx(f, image, '2.0.0', { hardware: [] }), /publish\.empty-hardware/],
    ]
    for (const [what, tx, code] of cases) {
      const error = await publishRefused(tx, image.path, image.manifest.imageSize)
      expect(error.exitCode, what).toBe(4)
      expect(error.message, what).toMatch(code)
    }
    expect(await imageFiles(), 'no image file was written').toEqual(before)
    expect(origin.transfer.downloads().map((d) => d.manifest)).not.toContain(image.cid.toString())
  })

  it('bytes that are not the release image are refused and deleted, and the release is not submitted', async () => {
    const before = await imageFiles()
    const image = await makeImage(cluster.dir, 'fw-real.img', 200_000, 'api-publish-real')
    const other = join(cluster.dir, 'fw-other.img')
    await writeFile(other, Prng.fromSeed('api-publish-other').bytes(200_000))
    const tx = publishTx(f, image, '3.0.0')
    const error = await publishRefused(tx, other, 200_000)
    expect(error.exitCode).toBe(1)
    expect(error.message).toMatch(/not the release's/)
    expect(await imageFiles()).toEqual(before)
    expect(origin.ledger.ledger.release(tx.idString)).toBeUndefined()
    // A body of another length than the release says is refused before it is read.
    const short = await publishRefused(publishTx(f, image, '3.0.0'), image.path, 1000)
    expect(short.message).toMatch(/the release says the image has 200000/)
  })

  it('a body longer than the release says is cut off (413), with nothing kept', async () => {
    const before = await imageFiles()
    const image = await makeImage(cluster.dir, 'fw-long.img', 100_000, 'api-publish-long')
    const tx = publishTx(f, image, '4.0.0')
    // A chunked body (no Content-Length) that goes on past imageSize.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: origin.apiPort,
          method: 'POST',
          path: '/v1/releases',
          headers: {
            'content-type': 'application/octet-stream',
            'fwmesh-tx': Buffer.from(tx.bytes).toString('base64'),
          },
        },
        (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        },
      )
      req.on('error', reject)
      req.write(Buffer.alloc(150_000, 1))
      req.end()
    })
    expect(status).toBe(413)
    expect(await imageFiles()).toEqual(before)
    expect(origin.ledger.ledger.release(tx.idString)).toBeUndefined()
  })

  it('a release still pending when the answer goes is seeded when it commits', async () => {
    const image = await makeImage(cluster.dir, 'fw-5.img', 400_000, 'api-publish-5')
    const tx = publishTx(f, image, '5.0.0')
    const r = await client.publish(tx, image.path, image.manifest.imageSize, 0)
    expect(r.status).toBe('pending')
    const key = image.cid.toString()
    await eventually('the release committed and its image is seeded', async () =>
      origin.ledger.ledger.release(tx.idString) && (await imageFiles()).includes(`${key}.origin`)
        ? true
        : undefined,
    )
    expect(origin.transfer.staging.keys()).toEqual([])
  })
})
