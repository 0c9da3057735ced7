/**
 * `npm run package:deb [-- --out DIR]`: builds `fwmesh_<version>_all.deb` from the bundled
 * binary (dist/fwmesh.mjs; `npm run build` first, which the npm script does), for a gateway
 * with Node.js >= 20.19:
 *
 *   /usr/bin/fwmesh                      the launcher (bin/fwmesh, pointed at /usr/lib/fwmesh)
 *   /usr/lib/fwmesh/fwmesh.mjs           the bundle, with package.json (its version)
 *   /usr/lib/fwmesh/node_modules/...     the packages the bundle leaves external (LevelDB's
 *                                        native addon), with prebuilt linux x64/arm64/armv7
 *                                        binaries only: the package is Architecture: all
 *   /usr/lib/fwmesh/hooks/*.sh           the example install hooks
 *   /lib/systemd/system/fwmesh-*.service one unit per role (packaging/systemd/)
 *   /etc/fwmesh/{validator,origin,device}.toml  `fwmesh config example` per role (conffiles)
 *   /usr/share/doc/fwmesh/               README and docs
 *
 * docs/packaging.md says how to install it and run a role.
 */
import { execFileSync } from 'node:child_process'
import { chmod, copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { configExample, EXAMPLE_ROLES } from '../src/cli/config-example.js'

const ROOT = join(import.meta.dirname, '..')
/** Where the package puts its files; the launcher and units name these paths. */
const LIB = 'usr/lib/fwmesh'
const DATA_DIR = '/var/lib/fwmesh'
const GENESIS = '/etc/fwmesh/genesis.json'
/** Packages the bundle imports at run time (scripts/bundle.ts EXTERNAL), with their dependencies. */
const RUNTIME_PACKAGES = ['level']
/** Prebuilt native binaries kept: the Linux machines a gateway is. */
const PREBUILDS_KEPT = /^linux-(x64|arm64|arm)$/
/** The oldest Node.js the binary runs on (package.json engines). */
const NODE_MIN = '20.19'

export async function packageDeb(outDir: string): Promise<string> {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
    version: string
    description: string
    license: string
  }
  const stage = await mkdtemp(join(tmpdir(), 'fwmesh-deb-'))
  try {
    const root = join(stage, 'root')
    const lib = join(root, LIB)
    await mkdir(lib, { recursive: true })
    await copyFile(join(ROOT, 'dist/fwmesh.mjs'), join(lib, 'fwmesh.mjs'))
    await writeFile(
      join(lib, 'package.json'),
      `${JSON.stringify({ name: 'fwmesh', version: pkg.version, type: 'module', private: true }, null, 2)}\n`,
    )
    for (const name of await runtimeClosure(RUNTIME_PACKAGES))
      await copyPackage(name, join(lib, 'node_modules'))
    await cp(join(ROOT, 'examples/hooks'), join(lib, 'hooks'), { recursive: true })

    const bin = join(root, 'usr/bin')
    await mkdir(bin, { recursive: true })
    // bin/fwmesh runs <its folder>/../dist/fwmesh.mjs; installed, that is /usr/lib/fwmesh/fwmesh.mjs.
    const source = await readFile(join(ROOT, 'bin/fwmesh'), 'utf8')
    const launcher = source
      .replace('$here/../', '$here/../lib/fwmesh/')
      .replace(':-dist/fwmesh.mjs', ':-fwmesh.mjs')
    if (!launcher.includes(':-fwmesh.mjs') || !launcher.includes('lib/fwmesh/'))
      throw new Error('bin/fwmesh changed: update scripts/package-deb.ts')
    await writeFile(join(bin, 'fwmesh'), launcher)
    await chmod(join(bin, 'fwmesh'), 0o755)

    const units = join(root, 'lib/systemd/system')
    await cp(join(ROOT, 'packaging/systemd'), units, { recursive: true })
    const etc = join(root, 'etc/fwmesh')
    await mkdir(etc, { recursive: true })
    for (const role of EXAMPLE_ROLES)
      await writeFile(join(etc, `${role}.toml`), configExample(role, DATA_DIR, GENESIS))

    const doc = join(root, 'usr/share/doc/fwmesh')
    await mkdir(doc, { recursive: true })
    await copyFile(join(ROOT, 'README.md'), join(doc, 'README.md'))
    await cp(join(ROOT, 'docs'), join(doc, 'docs'), { recursive: true })

    const debian = join(root, 'DEBIAN')
    await mkdir(debian, { recursive: true })
    await writeFile(
      join(debian, 'control'),
      [
        'Package: fwmesh',
        `Version: ${pkg.version}`,
        'Architecture: all',
        'Maintainer: fwmesh developers <fwmesh@localhost>',
        `Depends: nodejs (>= ${NODE_MIN})`,
        'Section: admin',
        'Priority: optional',
        `Description: ${pkg.description}`,
        ' Validators keep a BFT ledger of firmware releases; devices fetch images from',
        ' their neighbours and check every chunk against hashes the ledger committed.',
        '',
      ].join('\n'),
    )
    await writeFile(join(debian, 'conffiles'), EXAMPLE_ROLES.map((r) => `/etc/fwmesh/${r}.toml\n`).join(''))

    await mkdir(outDir, { recursive: true })
    const deb = join(outDir, `fwmesh_${pkg.version}_all.deb`)
    execFileSync('dpkg-deb', ['--build', '--root-owner-group', root, deb], { stdio: 'pipe' })
    return deb
  } finally {
    await rm(stage, { recursive: true, force: true })
  }
}

/** `names` and every package they depend on, from the installed node_modules. */
async function runtimeClosure(names: readonly string[]): Promise<string[]> {
  const seen = new Set<string>()
  const queue = [...names]
  while (queue.length > 0) {
    const name = queue.shift()!
    if (seen.has(name)) continue
    seen.add(name)
    const manifest = JSON.parse(await readFile(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>
    }
    queue.push(...Object.keys(manifest.dependencies ?? {}))
  }
  return [...seen].sort()
}

/** Copies an installed package, leaving out prebuilt binaries for machines no gateway is. */
async function copyPackage(name: string, into: string): Promise<void> {
  const from = join(ROOT, 'node_modules', name)
  const to = join(into, name)
  await cp(from, to, { recursive: true })
  const prebuilds = join(to, 'prebuilds')
  const platforms = await readdir(prebuilds).catch(() => [] as string[])
  for (const platform of platforms)
    if (!PREBUILDS_KEPT.test(platform)) await rm(join(prebuilds, platform), { recursive: true, force: true })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--out')
  const out = at > 0 ? process.argv[at + 1]! : join(ROOT, 'dist')
  process.stdout.write(`${await packageDeb(out)}\n`)
}
