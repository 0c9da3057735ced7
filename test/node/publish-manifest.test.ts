/**
 * Mix-and-match at submit (issue 19, part 8): a release whose fields do not describe the image
 * of its manifest is refused by the ledger's rules (its manifest id is not the one its fields
 * make), on a node that holds neither the image nor its manifest, instead of being committed
 * and then refused by every device after its approval. Real node, real API, loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NodeClient } from '../../src/cli/api-client.js'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import { type Cluster, startCluster } from '../helpers/cluster.js'
import { commitAll, makeImage, publishTx } from '../helpers/release.js'

describe('node: a release that mixes a manifest with another image is refused at submit', () => {
  let cluster: Cluster
  let client: NodeClient
  let f: TxFactory
  let image: Awaited<ReturnType<typeof makeImage>>
  let other: Awaited<ReturnType<typeof makeImage>>

  beforeAll(async () => {
    cluster = await startCluster({ seed: 'publish-manifest', validators: 1 })
    const origin = cluster.validators[0]!
    f = new TxFactory(cluster.chain)
    await commitAll(origin, f.bootstrap())
    image = await makeImage(cluster.dir, 'fw-a.img', 300 * 1024, 'mix-a')
    other = await makeImage(cluster.dir, 'fw-b.img', 200 * 1024, 'mix-b')
    // The node holds no manifest: the ledger needs none to refuse the mixes.
    expect(origin.transfer.heldManifest(image.cid.toString())).toBeUndefined()
    client = new NodeClient(`http://127.0.0.1:${origin.apiPort}`)
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  const mixes: Array<
    [string, (fields: Parameters<TxFactory['publish']>[0]) => Parameters<TxFactory['publish']>[0]]
  > = [
    ['the hash of another image', (p) => ({ ...p, imageSha256: other.manifest.imageSha256 })],
    ['the size of another image', (p) => ({ ...p, imageSize: other.manifest.imageSize })],
    ['another chunk size', (p) => ({ ...p, chunkSize: 2 * image.manifest.chunkSize })],
    [
      'the chunk list of another image',
      (p) => ({ ...p, chunkHashesSha256: other.manifest.chunkHashesSha256 }),
    ],
    ['the manifest of another image', (p) => ({ ...p, manifest: other.cid })],
  ]
  for (const [what, mix] of mixes) {
    it(`refuses the manifest of one image with ${what} (publish.manifest-mismatch)`, async () => {
      const mixed = f.publish(
        mix({
          product: 'gw',
          version: '1.0.0',
          hardware: ['rev-a'],
          imageSize: image.manifest.imageSize,
          imageSha256: image.manifest.imageSha256,
          chunkHashesSha256: image.manifest.chunkHashesSha256,
          manifest: image.cid,
          chunkSize: image.manifest.chunkSize,
        }),
      )
      await expect(client.submit(mixed)).rejects.toMatchObject({
        exitCode: 4,
        detail: { code: 'publish.manifest-mismatch' },
      })
      expect(cluster.validators[0]!.ledger.ledger.release(mixed.idString)).toBeUndefined()
    })
  }

  it('commits the release whose fields are its manifest’s', async () => {
    const r = await client.submit(publishTx(f, image, '1.0.0'), 20_000)
    expect(r.status).toBe('committed')
  })
})
