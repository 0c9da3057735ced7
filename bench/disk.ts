/**
 * `npm run bench -- disk [--mib 1024]`: the disk a device uses during a rollout. One device
 * downloads and installs an image of `--mib` MiB from a validator over real `fwmesh node`
 * processes on 127.0.0.1 (needs `npm run build` first), installing it with the example hook
 * (examples/hooks/script.sh, into the device's data directory, as scripts/fleet.ts sets it up).
 * Every DISK_SAMPLE_MS the whole data directory is measured with `du` (allocated blocks, each
 * hard-linked file once), from before the release until after the install. Prints one JSON
 * object: the peak beside the image size (the baseline), their ratio (goal <= 1.1), the data
 * directory before the release and at the end.
 */
import '../src/polyfills.js'
import { execFile } from 'node:child_process'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import {
  address,
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
import { arg } from './process.js'

const MiB = 1024 * 1024
/** How often the data directory is measured. */
const DISK_SAMPLE_MS = 200

/** Bytes allocated under a directory (du counts a file with several links once). */
async function diskUse(dir: string): Promise<number> {
  const { stdout } = await promisify(execFile)('du', ['-s', '-B1', dir])
  return Number(stdout.split(/\s/)[0])
}

async function installed(node: DemoNode, version: string): Promise<boolean> {
  const s = await node.api.status()
  return (s.device as { installedVersion?: string } | null)?.installedVersion === version
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
  fleet.dir = await mkdtemp(join(tmpdir(), 'fwmesh-bench-disk-'))
  const dir = fleet.dir
  let sampling: NodeJS.Timeout | undefined
  try {
    const ops = await makeOperators()
    const origin = await makeNode('validator-0', generateKeyPair())
    const device = await makeNode('device', generateKeyPair())
    await initGenesis('bench', [origin], ops.admin.publicKey, 100)
    await startNode(origin, 'validator', [], '')
    await waitForApi(origin)
    await grantRoles(origin, 'bench', ops, ['gateway'])
    await submitAll(origin, 'bench', ops.admin, [
      {
        type: 'device.register',
        device: device.keys.publicKey,
        product: 'gateway',
        hardware: 'rev-b',
        groups: [],
      },
    ])
    const image = join(dir, 'big.img')
    await writeImage(image, imageMiB * MiB, 'disk')
    await startNode(device, 'follower', [address(origin)], deviceSection(device))
    await waitForApi(device)

    const idle = await diskUse(device.dataDir)
    let peak = idle
    let measuring = false
    sampling = setInterval(() => {
      if (measuring) return
      measuring = true
      void diskUse(device.dataDir)
        .then((bytes) => {
          peak = Math.max(peak, bytes)
        })
        .catch(() => undefined)
        .finally(() => {
          measuring = false
        })
    }, DISK_SAMPLE_MS)
    await publishAndApprove(
      `http://127.0.0.1:${origin.apiPort}`,
      image,
      { product: 'gateway', version: '1.1.0', hardware: 'rev-b' },
      2,
      { quiet: true, waitSeconds: 120 },
    )
    const deadline = Date.now() + 900_000
    while (!(await installed(device, '1.1.0').catch(() => false))) {
      if (Date.now() > deadline) throw new Error('timed out: the image installed')
      await new Promise((r) => setTimeout(r, DISK_SAMPLE_MS))
    }
    // A few more samples after the install: whatever the hook or the node leaves behind.
    await new Promise((r) => setTimeout(r, 5 * DISK_SAMPLE_MS))
    clearInterval(sampling)
    sampling = undefined
    const end = await diskUse(device.dataDir)
    peak = Math.max(peak, end)
    await stopAll()
    const peakDiskMiB = peak / MiB
    process.stdout.write(
      `${JSON.stringify({
        bench: 'disk',
        imageMiB,
        peakDiskMiB: round(peakDiskMiB),
        ratio: round(peakDiskMiB / imageMiB),
        idleDiskMiB: round(idle / MiB),
        endDiskMiB: round(end / MiB),
        goal: 'ratio <= 1.1',
      })}\n`,
    )
  } finally {
    if (sampling) clearInterval(sampling)
    await stopAll()
    await rm(dir, { recursive: true, force: true })
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}
