/**
 * `npm run bench -- hostile [--mib 96] [--origin-upload-mibps 3] [--sybils 16]`: hostile peers
 * against a device while it downloads a release, over real `fwmesh node` processes on 127.0.0.1
 * (needs `npm run build` first). One validator is the origin; it publishes an image and uploads
 * it at `--origin-upload-mibps`, so the device's download lasts 20-40 s. Once the device holds
 * a tenth of it, attacker hosts (bench/hostile/attacks.ts) connect to the device, all at once:
 *
 * - stalledFrames: 64 chunk streams opened in turn, each a 4 MiB frame's length and a few bytes, then
 *   nothing;
 * - unsolicitedChunks: 256 KiB chunk messages nobody asked for, in rounds;
 * - oversizedFrames: a length one byte over CHUNK_MESSAGE_BYTES_MAX;
 * - garbage: random bytes;
 * - creditStalls4MiB, creditStallsChunk: `--sybils` hosts each claim every chunk, so the device
 *   asks them for chunks, and spend that credit on a stalled frame of 4 MiB (the protocol's
 *   largest) or of a chunk message (what was asked for).
 *
 * The device's RSS (VmRSS) is sampled every RSS_SAMPLE_MS. Prints one JSON object: rssBeforeMB
 * (median of the last 2 s before the attack), rssPeakMB (the attack and 30 s after), rssAfterMB
 * (30 s after the attack ended: every attacker stream dropped, or ATTACK_WINDOW_MAX_MS passed),
 * honestCompleted (the device held the whole image; honestDownloadSeconds from the publish
 * command, beside originBoundSeconds, the image at the origin's limit) and per attack what the
 * node did to its streams and how fast (attackerDroppedAfterMs), beside the goals and whether
 * each held, and the machine's load average at the start and the end.
 */
import '../src/polyfills.js'
import { existsSync } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  address,
  children,
  type DemoNode,
  deviceSection,
  fleet,
  grantRoles,
  initGenesis,
  makeNode,
  makeOperators,
  publishAndApprove,
  ROOT,
  startNode,
  stopAll,
  submitAll,
  waitForApi,
} from '../scripts/fleet.js'
import { CHUNK_MESSAGE_BYTES_MAX } from '../src/constants.js'
import { generateKeyPair } from '../src/crypto/ed25519.js'
import { chunkImageFile } from '../src/node/store/image-chunker.js'
import { Prng } from '../src/prng.js'
import { chunkCount } from '../src/transfer/manifest.js'
import {
  type Attack,
  creditStalls,
  garbage,
  oversizedFrames,
  stalledFrames,
  type Target,
  unsolicitedChunks,
} from './hostile/attacks.js'
import { arg, memoryOf } from './process.js'

const MiB = 1024 * 1024
/** How often the device's RSS is read: fine enough to catch a peak that lasts a GC cycle. */
const RSS_SAMPLE_MS = 150
/** The attack starts once the device holds this share of the image: its download is running. */
const ATTACK_AT_SHARE = 0.1
/** The attack phase lasts at least this (the Sybils' requests arrive over a few seconds)... */
const ATTACK_WINDOW_MIN_MS = 10_000
/** ...and at most this: a stalled chunk frame's deadline (26 s) and the watchdog, with room. */
const ATTACK_WINDOW_MAX_MS = 40_000
/** What the goals give the node to release what the attack made it hold. */
const AFTER_MS = 30_000
/** The honest download must finish by then, attacks and all. */
const DOWNLOAD_DEADLINE_MS = 150_000
const GOALS = 'rssPeakMB <= rssBeforeMB + 64; rssAfterMB <= rssBeforeMB + 16 within 30 s; honestCompleted'

export async function main(args: string[]): Promise<void> {
  const imageMiB = arg(args, 'mib', 96)
  const originUploadMiBps = arg(args, 'origin-upload-mibps', 3)
  const sybils = arg(args, 'sybils', 16)
  if (!existsSync(join(ROOT, 'dist/fwmesh.mjs')))
    throw new Error('the hostile bench runs the built binary: `npm run build` first')
  fleet.dir = await mkdtemp(join(tmpdir(), 'fwmesh-bench-hostile-'))
  const load = [round(loadavg()[0]!)]
  const samples: Array<{ at: number; mb: number }> = []
  let sampler: NodeJS.Timeout | undefined
  const attacks: Record<string, Attack> = {}
  try {
    const ops = await makeOperators()
    const origin = await makeNode('validator-0', generateKeyPair())
    const device = await makeNode('device', generateKeyPair())
    await initGenesis('hostile', [origin], ops.admin.publicKey, 100)
    await startNode(origin, 'validator', [], `[bandwidth]\nupload = ${originUploadMiBps * MiB}`)
    await waitForApi(origin)
    await grantRoles(origin, 'hostile', ops)
    await submitAll(origin, 'hostile', ops.admin, [
      {
        type: 'device.register',
        device: device.keys.publicKey,
        product: 'gateway',
        hardware: 'rev-b',
        groups: [],
      },
    ])
    const image = join(fleet.dir, 'image.img')
    await writeImage(image, imageMiB * MiB)
    const chunked = await chunkImageFile(image)
    if (!chunked.ok) throw new Error(chunked.error.message)
    const manifest = chunked.value.manifest

    await startNode(device, 'follower', [address(origin)], deviceSection(device))
    await waitForApi(device)
    const pid = children.at(-1)!.pid!
    sampler = setInterval(() => {
      void memoryOf(pid).then(
        (m) => samples.push({ at: performance.now(), mb: m.rssMB }),
        () => {},
      )
    }, RSS_SAMPLE_MS)

    const releasedAt = performance.now()
    await publishAndApprove(
      `http://127.0.0.1:${origin.apiPort}`,
      image,
      { product: 'gateway', version: '1.1.0', hardware: 'rev-b' },
      2,
      { quiet: true },
    )
    const chunks = chunkCount(manifest)
    await until('the device holds a tenth of the image', 60_000, async () => {
      const row = await progress(device)
      return (row?.written ?? 0) >= chunks * ATTACK_AT_SHARE
    })
    // Two more seconds of the download alone: the samples rssBeforeMB is the median of.
    await sleep(2_000)
    const attackAt = performance.now()
    const rssBeforeMB = median(samples.filter((s) => s.at >= attackAt - 2_000).map((s) => s.mb))

    const target: Target = {
      address: address(device),
      chainId: 'hostile',
      manifest: chunked.value.cid,
      chunkCount: chunks,
      chunkBytes: manifest.chunkSize,
    }
    const started = await Promise.all([
      stalledFrames(target, 64),
      unsolicitedChunks(target, 4),
      oversizedFrames(target),
      garbage(target),
      creditStalls(target, sybils, CHUNK_MESSAGE_BYTES_MAX),
      creditStalls(target, sybils, manifest.chunkSize + 512),
    ])
    const names = [
      'stalledFrames',
      'unsolicitedChunks',
      'oversizedFrames',
      'garbage',
      'creditStalls4MiB',
      'creditStallsChunk',
    ]
    for (const [i, attack] of started.entries()) attacks[names[i]!] = attack

    // The attack lasts until the node has ended every attacker stream (at least the minimum),
    // or the window closes; then the attackers open nothing more, and hold what is open.
    const all = Object.values(attacks)
    while (
      performance.now() - attackAt < ATTACK_WINDOW_MAX_MS &&
      (performance.now() - attackAt < ATTACK_WINDOW_MIN_MS || !all.every((a) => a.tally.settled()))
    )
      await sleep(200)
    for (const a of all) a.stop()
    const attackEndedAt = performance.now()
    let honestCompletedAt: number | null = null
    const pollDownload = async () => {
      const row = await progress(device)
      if (honestCompletedAt === null && row?.complete) honestCompletedAt = performance.now()
    }
    while (performance.now() - attackEndedAt < AFTER_MS) {
      await pollDownload()
      await sleep(200)
    }
    const rssAfterMB = samples.at(-1)?.mb ?? Number.NaN
    const rssPeakMB = Math.max(...samples.filter((s) => s.at >= attackAt).map((s) => s.mb))
    await until('the honest download completes', DOWNLOAD_DEADLINE_MS, async () => {
      await pollDownload()
      return honestCompletedAt !== null
    }).catch(() => {})
    load.push(round(loadavg()[0]!))
    const honestCompleted = honestCompletedAt !== null
    const report = Object.fromEntries(Object.entries(attacks).map(([name, a]) => [name, a.tally.report()]))
    process.stdout.write(
      `${JSON.stringify({
        bench: 'hostile',
        imageMiB,
        originUploadMiBps,
        sybils,
        rssBeforeMB: round(rssBeforeMB),
        rssPeakMB: round(rssPeakMB),
        rssAfterMB: round(rssAfterMB),
        honestCompleted,
        honestDownloadSeconds:
          honestCompletedAt === null ? null : round((honestCompletedAt - releasedAt) / 1000),
        originBoundSeconds: round(imageMiB / originUploadMiBps),
        attackSeconds: round((attackEndedAt - attackAt) / 1000),
        attacks: report,
        loadAverage: load,
        goals: GOALS,
        goalsHeld: {
          peak: rssPeakMB <= rssBeforeMB + 64,
          after: rssAfterMB <= rssBeforeMB + 16,
          honestCompleted,
        },
      })}\n`,
    )
  } finally {
    clearInterval(sampler)
    await Promise.allSettled(Object.values(attacks).flatMap((a) => a.hosts.map(async (h) => h.stop())))
    await stopAll()
    await rm(fleet.dir, { recursive: true, force: true })
  }
}

/** The device's download row of the release, if it has one yet. */
async function progress(
  node: DemoNode,
): Promise<{ chunks?: number; written?: number; held?: number; complete?: boolean } | undefined> {
  const rows = await node.api.downloads().catch(() => [])
  return rows[0] as { chunks?: number; written?: number; held?: number; complete?: boolean } | undefined
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!(await check().catch(() => false))) {
    if (performance.now() > deadline) throw new Error(`timed out: ${what}`)
    await sleep(200)
  }
}

async function writeImage(path: string, bytes: number): Promise<void> {
  const fill = Prng.fromSeed('hostile')
  const fh = await open(path, 'w')
  for (let written = 0; written < bytes; written += 16 * MiB)
    await fh.write(fill.bytes(Math.min(16 * MiB, bytes - written)))
  await fh.close()
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}
