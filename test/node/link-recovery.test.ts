import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chunkProtocolId } from '../../src/transfer/messages.js'
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js'
import { makeImage } from '../helpers/release.js'

const KiB = 1024

describe('node: a chunk link that breaks while the connection stays up is rebuilt (real libp2p, loopback)', () => {
  let cluster: Cluster
  beforeAll(async () => {
    // 512 KiB/s from the origin: a 2 MiB image takes about 4 s, time to break the link mid-way.
    cluster = await startCluster({ seed: 'link-recovery', validators: 1, originUploadBytesPerSec: 512 * KiB })
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it('the download goes on from the same neighbour after its chunk stream is reset', async () => {
    const origin = cluster.validators[0]!
    const image = await makeImage(cluster.dir, 'fw-recovery.img', 8 * 256 * KiB, 'link-recovery')
    expect(await origin.transfer.addImage(image.path, image.cid.toString())).toMatchObject({ ok: true })
    const device = await cluster.addFollower({ name: 'device' })
    const fetched = device.transfer.fetch(image.cid.toString(), {
      id: 'release',
      imageSize: image.manifest.imageSize,
      imageSha256: image.manifest.imageSha256,
    })
    await eventually('the first chunk arrives', () => {
      const row = device.transfer.downloads()[0]
      return row && row.written > 0 && row.written < 8 ? true : undefined
    })
    // The origin resets its chunk streams to the device; the connection itself stays up.
    const protocol = chunkProtocolId(cluster.chain.genesis.chainId)
    const connections = origin.host.getConnections(device.host.peerId)
    const streams = connections.flatMap((c) => c.streams.filter((s) => s.protocol === protocol))
    expect(streams.length, 'the origin has chunk streams to the device').toBeGreaterThan(0)
    for (const s of streams) s.abort(new Error('test: the link breaks'))
    expect(origin.host.getConnections(device.host.peerId).length, 'still connected').toBeGreaterThan(0)
    const result = await fetched
    expect(result.ok, 'the download completes').toBe(true)
    expect(device.transfer.downloads()[0]?.held).toBe(8)
  }, 90_000)
})
