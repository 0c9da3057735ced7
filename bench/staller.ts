/**
 * `npm run bench -- staller [--chunks 128] [--runs 3] [--upload-mibps 2]`: slow retrieval
 * (issue 19). A device downloads a release from four neighbours over real libp2p on 127.0.0.1,
 * in this process (test/helpers/cluster.ts): the origin and followers holding the image, each
 * sending at `--upload-mibps`. Clean: the origin and three holders. Staller: the origin, two
 * holders and a host that claims every chunk, takes every request and never answers one
 * (test/helpers/stall-peer.ts). Both in the same run, alternating, `--runs` of each, a fresh
 * cluster every time; the figures are medians. Prints one JSON object:
 *
 * - cleanSeconds, stallerSeconds: the device's `fetch`, from its call to the verified image;
 * - ratio: stallerSeconds / cleanSeconds, beside the goal (≤ 1.5);
 * - stallerRequests, stallerWithdrawnBeforeTimeout: what the device asked of the staller (all
 *   runs) and how many of those it withdrew because a copy came from elsewhere, before any
 *   request timeout (REQUEST_TIMEOUT_INITIAL_MS);
 * - loadAverage: the machine's 1-minute load at the start and the end (loose figures on a
 *   loaded machine).
 */
import '../src/polyfills.js'
import { loadavg } from 'node:os'
import { REQUEST_TIMEOUT_INITIAL_MS } from '../src/constants.js'
import { startCluster } from '../test/helpers/cluster.js'
import { makeImage } from '../test/helpers/release.js'
import { StallPeer } from '../test/helpers/stall-peer.js'
import { arg } from './process.js'

const KiB = 1024
const MiB = 1024 * KiB

interface Run {
  seconds: number
  stallerRequests: number
  withdrawnBeforeTimeout: number
}

async function once(chunks: number, uploadBytesPerSec: number, staller: boolean, n: number): Promise<Run> {
  const cluster = await startCluster({
    seed: `bench-staller-${staller}-${n}`,
    validators: 1,
    originUploadBytesPerSec: uploadBytesPerSec,
  })
  let stall: StallPeer | null = null
  try {
    const image = await makeImage(cluster.dir, 'fw.img', chunks * 256 * KiB, `bench-staller-${n}`)
    const added = await cluster.validators[0]!.transfer.addImage(image.path, image.cid.toString())
    if (!added.ok) throw new Error(added.message)
    const holders = staller ? 2 : 3
    for (let i = 0; i < holders; i++)
      await cluster.addFollower({ name: `holder-${i}`, holds: [image], uploadBytesPerSec })
    const device = await cluster.addFollower({ name: 'device' })
    if (staller) {
      stall = await StallPeer.start(cluster.chain.genesis.chainId, image.manifest)
      await stall.host.dial(device.host.getMultiaddrs()[0]!)
    }
    for (let i = 0; device.host.getPeers().length < 4; i++) {
      if (i > 100) throw new Error('the device did not meet its four neighbours')
      await new Promise((r) => setTimeout(r, 100))
    }
    const started = Date.now()
    const result = await device.transfer.fetch(image.cid.toString(), {
      id: 'release',
      imageSize: image.manifest.imageSize,
      imageSha256: image.manifest.imageSha256,
    })
    const seconds = (Date.now() - started) / 1000
    if (!result.ok) throw new Error(`the download failed: ${result.reason}`)
    const me = device.host.peerId.toString()
    const asked = stall?.requests.filter((r) => r.from === me) ?? []
    const withdrawn = asked.filter((r) =>
      stall!.cancels.some(
        (c) =>
          c.from === me && c.chunk === r.chunk && c.at >= r.at && c.at - r.at < REQUEST_TIMEOUT_INITIAL_MS,
      ),
    )
    return { seconds, stallerRequests: asked.length, withdrawnBeforeTimeout: withdrawn.length }
  } finally {
    await stall?.stop()
    await cluster.stop()
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}

export async function main(args: string[]): Promise<void> {
  const chunks = arg(args, 'chunks', 128)
  const runs = arg(args, 'runs', 3)
  const uploadBytesPerSec = arg(args, 'upload-mibps', 2) * MiB
  const loadBefore = loadavg()[0]!
  const clean: Run[] = []
  const attacked: Run[] = []
  for (let n = 0; n < runs; n++) {
    clean.push(await once(chunks, uploadBytesPerSec, false, n))
    attacked.push(await once(chunks, uploadBytesPerSec, true, n))
  }
  const cleanSeconds = median(clean.map((r) => r.seconds))
  const stallerSeconds = median(attacked.map((r) => r.seconds))
  process.stdout.write(
    `${JSON.stringify({
      bench: 'staller',
      imageMiB: (chunks * 256 * KiB) / MiB,
      neighbours: 4,
      uploadMiBps: uploadBytesPerSec / MiB,
      runs,
      cleanSeconds: round(cleanSeconds),
      stallerSeconds: round(stallerSeconds),
      ratio: round(stallerSeconds / cleanSeconds),
      goal: 'ratio <= 1.5',
      cleanRunsSeconds: clean.map((r) => round(r.seconds)),
      stallerRunsSeconds: attacked.map((r) => round(r.seconds)),
      stallerRequests: attacked.reduce((a, r) => a + r.stallerRequests, 0),
      stallerWithdrawnBeforeTimeout: attacked.reduce((a, r) => a + r.withdrawnBeforeTimeout, 0),
      loadAverage: [round(loadBefore), round(loadavg()[0]!)],
    })}\n`,
  )
}
