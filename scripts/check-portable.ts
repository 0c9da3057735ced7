/**
 * `npm run check:portable`: every native addon among the production dependencies, and whether
 * it ships prebuilt binaries for the gateways fwmesh runs on, linux-arm64 and linux-arm (armv7):
 * a gateway has no compiler, so an addon without them cannot install there. And every
 * production package whose `engines.node` does not admit the oldest Node.js fwmesh promises
 * (package.json `engines`, 20.19): `engines` must tell the truth (p-retry 8 wanted Node 22; an
 * npm override pins 7). Prints one line per finding and exits 1 on any.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { admitsNode } from './node-engines.js'

const ROOT = join(import.meta.dirname, '..')

/** The prebuilt binaries a gateway needs: folder under prebuilds/, and a file name test. */
const TARGETS: ReadonlyArray<{ name: string; folder: string; file: RegExp }> = [
  { name: 'linux-arm64', folder: 'linux-arm64', file: /\.node$/ },
  { name: 'linux-arm (armv7)', folder: 'linux-arm', file: /armv7\.node$/ },
]

export interface AddonReport {
  readonly package: string
  readonly missing: readonly string[]
}

/** Production packages (npm's view of the lockfile's install) that build or ship a native addon. */
/** The folders of the production packages installed (npm's view of the lockfile). */
function productionPackages(root: string): string[] {
  const paths = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  })
    .split('\n')
    .filter((p) => p.includes('node_modules'))
  return [...new Set(paths)].sort()
}

export function nativeAddons(root = ROOT): AddonReport[] {
  const reports: AddonReport[] = []
  for (const dir of productionPackages(root)) {
    const native =
      existsSync(join(dir, 'binding.gyp')) ||
      existsSync(join(dir, 'prebuilds')) ||
      readdirSync(dir).some((f) => f.endsWith('.node'))
    if (!native) continue
    const missing = TARGETS.filter((t) => {
      const folder = join(dir, 'prebuilds', t.folder)
      return !existsSync(folder) || !readdirSync(folder).some((f) => t.file.test(f))
    }).map((t) => t.name)
    reports.push({ package: relative(join(root, 'node_modules'), dir), missing })
  }
  return reports
}

/** The oldest Node.js fwmesh runs on: package.json's engines.node, ">=20.19". */
export const NODE_OLDEST = '20.19.0'

/** Production packages whose engines.node does not admit NODE_OLDEST, with their ranges. */
export function enginesRefusing(
  root = ROOT,
  version = NODE_OLDEST,
): Array<{ package: string; range: string }> {
  const out: Array<{ package: string; range: string }> = []
  for (const dir of productionPackages(root)) {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { engines?: { node?: string } }
    const range = pkg.engines?.node
    if (range && !admitsNode(range, version))
      out.push({ package: relative(join(root, 'node_modules'), dir), range })
  }
  return out
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const refusing = enginesRefusing()
  for (const r of refusing)
    process.stdout.write(`${r.package}: engines.node "${r.range}" does not admit Node.js ${NODE_OLDEST}\n`)
  const reports = nativeAddons()
  for (const r of reports)
    process.stdout.write(
      `${r.package}: ${r.missing.length === 0 ? 'prebuilt for linux-arm64 and linux-arm (armv7)' : `MISSING ${r.missing.join(', ')}`}\n`,
    )
  if (reports.length === 0) process.stdout.write('no native addons\n')
  process.exitCode = reports.some((r) => r.missing.length > 0) || refusing.length > 0 ? 1 : 0
}
