/**
 * Slow retrieval over real libp2p on 127.0.0.1: a device downloads a release from four
 * neighbours (the origin and two followers holding the image, each sending at 2 MiB/s) and a
 * staller, a host that claims every chunk, takes every request and never answers one. Before
 * hedging, the staller's chunks waited for end-game (every other chunk asked for), then behind
 * the honest neighbours' queues; now each is asked of another neighbour once overdue, a few
 * chunk times at the rate the others deliver. Asserts on behaviour and counters only: the
 * bench (`npm run bench -- staller`) measures what it costs in time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REQUEST_TIMEOUT_INITIAL_MS } from '../../src/constants.js'
import type { Node } from '../../src/node/daemon.js'
import { type Cluster, eventually, eventuallyProgressing, startCluster } from '../helpers/cluster.js'
import { makeImage } from '../helpers/release.js'
import { StallPeer } from '../helpers/stall-peer.js'

const KiB = 1024
const MiB = 1024 * KiB
const CHUNKS = 128

describe('node: a staller among four neighbours (real libp2p, loopback)', () => {
  let cluster: Cluster
  let staller: StallPeer
  let device: Node
  let image: Awaited<ReturnType<typeof makeImage>>

  beforeAll(async () => {
    cluster = await startCluster({ seed: 'slow-retrieval', validators: 1, originUploadBytesPerSec: 2 * MiB })
    image = await makeImage(cluster.dir, 'fw-staller.img', CHUNKS * 256 * KiB, 'slow-retrieval')
    expect(await cluster.validators[0]!.transfer.addImage(image.path, image.cid.toString())).toMatchObject({
      ok: true,
    })
    for (const name of ['holder-0', 'holder-1'])
      await cluster.addFollower({ name, holds: [image], uploadBytesPerSec: 2 * MiB })
    device = await cluster.addFollower({ name: 'device' })
    staller = await StallPeer.start(cluster.chain.genesis.chainId, image.manifest)
    await staller.host.dial(device.host.getMultiaddrs()[0]!)
    await eventually('the device has its four neighbours', () =>
      device.host.getPeers().length >= 4 ? true : undefined,
    )
  }, 60_000)
  afterAll(async () => {
    await staller?.stop()
    await cluster?.stop()
  })

  it('the device completes, and each chunk asked of the staller is fetched elsewhere long before its request would time out, not left for end-game', async () => {
    const me = device.host.peerId.toString()
    const progress = () => device.transfer.downloads()[0]?.written ?? 0
    /** How many chunks the device had written when each of the staller's requests was withdrawn. */
    const heldAtCancel: number[] = []
    staller.onCancel = (from) => {
      if (from === me) heldAtCancel.push(progress())
    }
    const fetching = device.transfer.fetch(image.cid.toString(), {
      id: 'release',
      imageSize: image.manifest.imageSize,
      imageSha256: image.manifest.imageSha256,
    })
    const result = await eventuallyProgressing('the download', () => fetching, progress)
    expect(result.ok, 'the download completes').toBe(true)
    const row = device.transfer.downloads()[0]!
    expect(row.held).toBe(CHUNKS)
    expect(row.bytesFrom[staller.peerId], 'nothing from the staller').toBeUndefined()

    const asked = staller.requests.filter((r) => r.from === me)
    const withdrawn = staller.cancels.filter((r) => r.from === me)
    expect(asked.length, 'the staller was asked for chunks').toBeGreaterThan(0)
    for (const r of asked) {
      const cancel = withdrawn.find((c) => c.chunk === r.chunk && c.at >= r.at)
      expect(cancel, `chunk ${r.chunk}: the staller's request was withdrawn`).toBeDefined()
      // A timeout also withdraws a request, but not before REQUEST_TIMEOUT_INITIAL_MS: this one
      // was withdrawn because the chunk's copy came from another neighbour.
      expect(cancel!.at - r.at, `chunk ${r.chunk}: withdrawn before any timeout`).toBeLessThan(
        REQUEST_TIMEOUT_INITIAL_MS,
      )
    }
    expect(
      heldAtCancel[0],
      'the first stalled chunk came from elsewhere with half the image still to fetch',
    ).toBeLessThan(CHUNKS / 2)
    expect(row.banned, 'the staller is not banned: it never timed out').toEqual({})
  }, 120_000)
})
