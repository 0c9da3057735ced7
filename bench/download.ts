/**
 * `npm run bench -- download [--mib 1024] [--seeds 1] [--origin-upload-mibps 0]`: one device fetching a big image from
 * `--seeds` neighbours over real `fwmesh node` processes on 127.0.0.1 (needs `npm run build`
 * first). A focused version of the node benchmark's last phase, without the rollout and the
 * report burst around it, so the memory and throughput of the receive path can be measured
 * in a couple of minutes. The origin is a single validator (no upload limit); with
 * `--seeds 2` or more, devices that already hold the image seed it too. Prints one JSON
 * object:
 *
 * - downloadMBps: image bytes over the download's time, from the device's `download finished`
 *   log line (MB = 10^6 bytes), beside rawLibp2pMBps: the same bytes from as many senders over
 *   plain streams of the node's transport stack (bench/anchors/raw-libp2p.ts), and their ratio;
 * - downloadRssGrowthMB: the device's peak RSS (VmHWM) minus its idle RSS before the download,
 *   as in the node benchmark (goal < 32 MB);
 * - idleRssMB beside bareNodeRssMB: the device's RSS before the download, and a bare Node.js
 *   process measured the same way.
 */
import '../src/polyfills.js'
import { mkdtemp, open, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
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
  startNode,
  stopAll,
  submitAll,
  waitForApi,
} from '../scripts/fleet.js'
import { generateKeyPair } from '../src/crypto/ed25519.js'
import { Prng } from '../src/prng.js'
import { runRawLibp2p } from './anchors/raw-libp2p.js'
import { arg, baselineNodeRss, memoryOf } from './process.js'

const MiB = 1024 * 1024

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

async function installed(node: DemoNode, version: string): Promise<boolean> {
  const s = await node.api.status()
  return (s.device as { installedVersion?: string } | null)?.installedVersion === version
}

/** The seconds of the last `download finished` line in a node's log. */
async function downloadSeconds(node: DemoNode): Promise<number> {
  const log = await readFile(join(node.dataDir, 'node.log'), 'utf8')
  const lines = log.split('\n').filter((l) => l.includes('"download finished"'))
  const last = lines.at(-1)
  if (!last) throw new Error(`${node.name} logged no finished download`)
  return (JSON.parse(last) as { seconds: number }).seconds
}

async function writeImage(path: string, bytes: number, seed: string): Promise<void> {
  const fill = Prng.fromSeed(seed)
  const fh = await open(path, 'w')
  for (let written = 0; written < bytes; written += 16 * MiB)
    await fh.write(fill.bytes(Math.min(16 * MiB, bytes - written)))
  await fh.close()
}

export async function main(args: string[]): Promise<void> {
  const imageMiB = arg(args, 'mib', 1024)
  const seeds = arg(args, 'seeds', 1)
  // 0: no limit. The node benchmark's origin uploads at 16 MiB/s.
  const originUploadMiBps = arg(args, 'origin-upload-mibps', 0)
  fleet.dir = await mkdtemp(join(tmpdir(), 'fwmesh-bench-download-'))
  const dir = fleet.dir
  try {
    const ops = await makeOperators()
    const admin = ops.admin
    const origin = await makeNode('validator-0', generateKeyPair())
    const helpers = await Promise.all(
      Array.from({ length: seeds - 1 }, (_, i) => makeNode(`seed-${i}`, generateKeyPair())),
    )
    const device = await makeNode('device', generateKeyPair())
    await initGenesis('bench', [origin], admin.publicKey, 100)
    await startNode(
      origin,
      'validator',
      [],
      originUploadMiBps > 0 ? `[bandwidth]\nupload = ${originUploadMiBps * MiB}` : '',
    )
    await waitForApi(origin)
    await grantRoles(origin, 'bench', ops, ['gateway', 'seed'])
    await submitAll(
      origin,
      'bench',
      admin,
      [...helpers, device].map((d) => ({
        type: 'device.register',
        device: d.keys.publicKey,
        product: d === device ? 'gateway' : 'seed',
        hardware: 'rev-b',
        groups: [],
      })),
    )
    const originApi = `http://127.0.0.1:${origin.apiPort}`
    const image = join(dir, 'big.img')
    await writeImage(image, imageMiB * MiB, 'download')

    // Seeding devices (another product) fetch the image first, under a release of their own.
    if (helpers.length > 0) {
      for (const h of helpers) await startNode(h, 'follower', [address(origin)], deviceSection(h, 'seed'))
      await Promise.all(helpers.map(waitForApi))
      await publishAndApprove(originApi, image, { product: 'seed', version: '1.1.0', hardware: 'rev-b' }, 2, {
        quiet: true,
        waitSeconds: 120,
      })
      await waitUntil(
        'the seeds installed',
        async () => (await Promise.all(helpers.map((h) => installed(h, '1.1.0')))).every(Boolean),
        900_000,
      )
    }

    await startNode(device, 'follower', [origin, ...helpers].map(address), deviceSection(device))
    await waitForApi(device)
    await new Promise((r) => setTimeout(r, 2000))
    const pid = children.at(-1)!.pid!
    const before = await memoryOf(pid)
    const bareNodeRssMB = await baselineNodeRss()
    await publishAndApprove(
      originApi,
      image,
      { product: 'gateway', version: '1.1.0', hardware: 'rev-b' },
      2,
      {
        quiet: true,
        waitSeconds: 120,
      },
    )
    await waitUntil('the image installed', () => installed(device, '1.1.0'), 900_000)
    const after = await memoryOf(pid)
    const seconds = await downloadSeconds(device)
    await stopAll()
    // The baseline: the same bytes from as many senders over plain streams of the node's
    // transport stack, measured after the fleet stopped, on the same machine.
    const raw = await runRawLibp2p({ senders: seeds, bytesPerSender: Math.ceil((imageMiB * MiB) / seeds) })
    const downloadMBps = (imageMiB * MiB) / 1e6 / seconds
    process.stdout.write(
      `${JSON.stringify({
        bench: 'download',
        imageMiB,
        seeds,
        downloadSeconds: round(seconds),
        downloadMBps: round(downloadMBps),
        rawLibp2pMBps: round(raw.MBps),
        downloadVsRawLibp2p: round(downloadMBps / raw.MBps),
        idleRssMB: round(before.rssMB),
        bareNodeRssMB: round(bareNodeRssMB),
        peakRssMB: round(after.peakMB),
        downloadRssGrowthMB: round(after.peakMB - before.rssMB),
        goals: 'downloadRssGrowthMB < 32; downloadVsRawLibp2p >= 0.7',
      })}\n`,
    )
  } finally {
    await stopAll()
    await rm(dir, { recursive: true, force: true })
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}
