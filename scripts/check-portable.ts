/**
 * `npm run check:portable`: every native addon among the production dependencies, and whether
 * it ships prebuilt binaries for the gateways fwmesh runs on, linux-arm64 and linux-arm (armv7):
 * a gateway has no compiler, so an addon without them cannot install there. Prints one line per
 * addon and exits 1 when one lacks either.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

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
export function nativeAddons(root = ROOT): AddonReport[] {
  const paths = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  })
    .split('\n')
    .filter((p) => p.includes('node_modules'))
  const reports: AddonReport[] = []
  for (const dir of [...new Set(paths)].sort()) {
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

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const reports = nativeAddons()
  for (const r of reports)
    process.stdout.write(
      `${r.package}: ${r.missing.length === 0 ? 'prebuilt for linux-arm64 and linux-arm (armv7)' : `MISSING ${r.missing.join(', ')}`}\n`,
    )
  if (reports.length === 0) process.stdout.write('no native addons\n')
  process.exitCode = reports.some((r) => r.missing.length > 0) ? 1 : 0
}
