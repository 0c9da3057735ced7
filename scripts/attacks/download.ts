/**
 * Attacks on a download in progress: a malicious mirror (wrong bytes), endless data (a frame
 * over the protocol's limit, and chunks nobody asked for, without end), a neighbour serving
 * another release's manifest and chunks (mix-and-match), and slow retrieval (requests taken
 * and never answered). Hostile neighbours (hostile-peers.ts) are dialled to the devices after
 * the release is published and before it is approved, so they take part from the first chunk.
 */
import { readFile } from 'node:fs/promises'
import { CHUNK_BYTES_DEFAULT } from '../../src/constants.js'
import { chunkImageFile } from '../../src/node/store/image-chunker.js'
import { encodeManifest } from '../../src/transfer/manifest.js'
import { address, type DemoNode } from '../fleet.js'
import { type Behaviour, HostileNeighbour } from './hostile-peers.js'
import {
  approve,
  approverKey,
  CHAIN,
  downloadOf,
  IMAGE_BYTES,
  installedImageSha256,
  installedVersion,
  type Mesh,
  makeImage,
  type Outcome,
  publish,
  round,
  rssMiB,
  sleep,
  until,
} from './mesh.js'

/** A download here takes seconds; past this the run reports a failure rather than hang. */
const ROLLOUT_TIMEOUT_MS = 240_000

export interface Rollout {
  readonly version: string
  readonly release: string
  readonly manifest: string
  readonly sha256: string
  /** Per device: seconds from the last approval's commit to the whole image held; null if never. */
  readonly downloadSeconds: Array<number | null>
  /** Per device: whether it runs `version` and its installed image has the right SHA-256. */
  readonly installedRight: boolean[]
  readonly banned: Array<Record<string, string>>
}

/**
 * Publishes `version` (an image from `seed`), lets `attack` dial its neighbours, approves it,
 * and follows every device until it installed it (or the timeout).
 */
export async function rollout(
  mesh: Mesh,
  version: string,
  seed: string,
  attack: (manifest: string) => Promise<void> = async () => {},
): Promise<Rollout> {
  const origin = mesh.validators[0]!
  const image = await makeImage(`${seed}.img`, seed)
  const published = await publish(origin, image.path, version)
  if (published.code !== 0)
    throw new Error(`publish ${version} failed: ${published.stdout}${published.stderr}`)
  const release = String(published.json?.release)
  const manifest = String(published.json?.manifest)
  await attack(manifest)
  for (const i of [0, 1]) {
    const r = await approve(origin, release, approverKey(i))
    if (r.code !== 0) throw new Error(`approve ${version} failed: ${r.stdout}`)
  }
  const approvedAt = performance.now()
  const downloadSeconds: Array<number | null> = mesh.devices.map(() => null)
  const installed = mesh.devices.map(() => false)
  await until(`every device installs ${version}`, ROLLOUT_TIMEOUT_MS, async () => {
    await Promise.all(
      mesh.devices.map(async (d, i) => {
        const row = await downloadOf(d, manifest)
        if (!installed[i]) installed[i] = (await installedVersion(d)) === version
        // The whole image held (or, if that was missed between two polls, installed).
        const whole = row !== undefined && (row.complete || row.held >= row.chunks)
        if (downloadSeconds[i] === null && (whole || installed[i]))
          downloadSeconds[i] = round((performance.now() - approvedAt) / 1000)
      }),
    )
    return installed.every(Boolean)
  }).catch(() => {})
  mesh.latest = version
  if (process.env.FWMESH_ATTACKS_DEBUG)
    process.stderr.write(`${JSON.stringify(await mesh.devices[0]!.api.downloads())}\n`)
  const installedRight = await Promise.all(
    mesh.devices.map(async (d, i) => installed[i]! && (await installedImageSha256(d)) === image.sha256),
  )
  const banned = await Promise.all(
    mesh.devices.map(async (d) => (await downloadOf(d, manifest))?.banned ?? {}),
  )
  return { version, release, manifest, sha256: image.sha256, downloadSeconds, installedRight, banned }
}

const endless = (h: HostileNeighbour) =>
  `${h.endedBy ?? 'still open'} after ${(h.bytesDelivered / 1048576).toFixed(2)} MiB delivered`

const slowest = (r: Rollout) =>
  r.downloadSeconds.some((s) => s === null) ? null : Math.max(...(r.downloadSeconds as number[]))

/** The clean rollout every later one is measured against. */
export async function cleanRollout(mesh: Mesh): Promise<Rollout> {
  return rollout(mesh, '1.1.0', 'clean')
}

/**
 * One release, three hostile neighbourhoods: device-0 beside a mirror serving wrong bytes,
 * device-1 beside two endless-data neighbours, device-2 beside a neighbour serving the clean
 * release's manifest and chunks for this one's.
 */
export async function hostileDownload(mesh: Mesh, clean: Rollout): Promise<Outcome[]> {
  const [d0, d1, d2] = mesh.devices as [DemoNode, DemoNode, DemoNode]
  const neighbours: Record<string, HostileNeighbour> = {}
  const cleanImage = await readFile(`${mesh.devices[0]!.dataDir}/installed/firmware.img`)
  const cleanChunked = await chunkImageFile(`${mesh.devices[0]!.dataDir}/installed/firmware.img`)
  if (!cleanChunked.ok) throw new Error(cleanChunked.error.message)
  const otherImage: Behaviour = {
    kind: 'other-image',
    manifestBytes: encodeManifest(cleanChunked.value.manifest),
    image: cleanImage,
  }
  const d1pid = mesh.procs.get(d1.name)!.pid!
  const rss: number[] = []
  let sampling = true
  const rssBefore = await rssMiB(d1pid)
  const sampler = (async () => {
    while (sampling) {
      rss.push(await rssMiB(d1pid))
      await sleep(150)
    }
  })()
  let r: Rollout
  try {
    r = await rollout(mesh, '1.4.0', 'hostile', async (manifest) => {
      const shape = {
        manifest,
        imageSize: cleanImage.byteLength,
        chunkSize: cleanChunked.value.manifest.chunkSize,
      }
      const start = (target: DemoNode, b: Behaviour) =>
        HostileNeighbour.start(CHAIN, address(target), b, shape)
      neighbours.mirror = await start(d0, { kind: 'wrong-bytes' })
      neighbours.endlessFrame = await start(d1, { kind: 'endless-frame' })
      neighbours.endlessUnsolicited = await start(d1, { kind: 'endless-unsolicited' })
      neighbours.mixer = await start(d2, otherImage)
    })
  } finally {
    sampling = false
    await sampler
  }
  const n = neighbours as Record<'mirror' | 'endlessFrame' | 'endlessUnsolicited' | 'mixer', HostileNeighbour>
  const connected = (h: HostileNeighbour, d: DemoNode) =>
    h.connected(d.peerId) ? 'still connected' : 'disconnected'
  const out: Outcome[] = []
  const mirrorBan = r.banned[0]![n.mirror.peerId]
  out.push({
    attack: 'malicious mirror',
    tried: `a neighbour of device-0 claims every chunk of 1.4.0 and answers with random bytes (${n.mirror.requests} requests answered)`,
    outcome: `device-0 ${r.installedRight[0] ? 'installed the right image (sha256 matches)' : 'did NOT install the right image'}; neighbour ${mirrorBan ? `banned (${mirrorBan})` : 'not banned'}, ${connected(n.mirror, d0)}`,
    rejected: r.installedRight[0]! && (mirrorBan !== undefined || n.mirror.requests === 0),
    badInstall: !r.installedRight[0],
  })
  const peak = Math.max(rssBefore, ...rss)
  out.push({
    attack: 'endless data',
    tried:
      'two neighbours of device-1: a frame one byte over CHUNK_MESSAGE_BYTES_MAX then bytes without end; chunks nobody asked for, without end',
    outcome: `over-long frame: ${endless(n.endlessFrame)}; unsolicited chunks: ${endless(n.endlessUnsolicited)}; RSS ${round(rssBefore, 0)} -> peak ${round(peak, 0)} MiB; device-1 ${r.installedRight[1] ? 'installed the right image' : 'did NOT install'}`,
    rejected:
      r.installedRight[1]! &&
      [n.endlessFrame, n.endlessUnsolicited].every(
        (h) => h.endedBy === 'reset' || h.endedBy === 'stopped reading',
      ) &&
      peak - rssBefore < 128,
    badInstall: !r.installedRight[1],
    figures: {
      endlessFrameBytesDelivered: n.endlessFrame.bytesDelivered,
      unsolicitedBytesDelivered: n.endlessUnsolicited.bytesDelivered,
      rssBeforeMiB: round(rssBefore),
      rssPeakMiB: round(peak),
    },
  })
  const mixBan = r.banned[2]![n.mixer.peerId]
  out.push({
    attack: 'mix-and-match (neighbour)',
    tried: `a neighbour of device-2 answers 1.4.0's manifest request with 1.1.0's manifest (${n.mixer.manifestRequests} asked) and its chunks with 1.1.0's (${n.mixer.requests} asked)`,
    outcome: `device-2 ${r.installedRight[2] ? 'installed the right image (sha256 matches)' : 'did NOT install the right image'}; neighbour ${mixBan ? `banned (${mixBan})` : 'not banned'}, ${connected(n.mixer, d2)}`,
    rejected: r.installedRight[2]! && (mixBan !== undefined || n.mixer.requests === 0),
    badInstall: !r.installedRight[2],
  })
  await Promise.allSettled(Object.values(neighbours).map((h) => h.stop()))
  void clean
  return out
}

/** Slow retrieval: a neighbour of every device takes requests and never answers. */
export async function slowRetrieval(mesh: Mesh, clean: Rollout): Promise<Outcome> {
  const silent: HostileNeighbour[] = []
  let r: Rollout
  try {
    r = await rollout(mesh, '1.5.0', 'slow', async (manifest) => {
      for (const d of mesh.devices)
        silent.push(
          await HostileNeighbour.start(
            CHAIN,
            address(d),
            { kind: 'silent' },
            {
              manifest,
              imageSize: IMAGE_BYTES,
              chunkSize: CHUNK_BYTES_DEFAULT,
            },
          ),
        )
    })
  } finally {
    await Promise.allSettled(silent.map((h) => h.stop()))
  }
  const cleanS = slowest(clean)
  const slowS = slowest(r)
  const ratio = cleanS && slowS ? round(slowS / cleanS) : null
  return {
    attack: 'slow retrieval',
    tried: `a neighbour of each device claims every chunk of 1.5.0, takes requests (${silent.map((s) => s.requests).join('/')}) and never answers`,
    outcome: `every device installed: ${r.installedRight.every(Boolean)}; slowest download ${slowS ?? 'never'} s vs clean ${cleanS} s (x${ratio ?? '?'}, goal <= 1.5)`,
    rejected: r.installedRight.every(Boolean),
    badInstall: !r.installedRight.every(Boolean),
    figures: { cleanSeconds: cleanS, slowSeconds: slowS, ratio, perDevice: r.downloadSeconds },
  }
}
