import { execFileSync, spawnSync } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { enginesRefusing, nativeAddons } from '../../scripts/check-portable.js'
import { admitsNode } from '../../scripts/node-engines.js'
import { packageDeb } from '../../scripts/package-deb.js'
import { tempDir } from '../helpers/tmp.js'

const ROOT = join(import.meta.dirname, '../..')

/**
 * What a gateway gets: the .deb of `npm run package:deb` (its files, and a binary that runs
 * from an unpacked copy), systemd units that systemd itself accepts, and native addons with
 * binaries for arm64 and armv7. test/global-setup.ts has built dist/fwmesh.mjs.
 */
describe('packaging: the .deb, its systemd units and portable native addons', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let deb: string
  let files: string[]
  const version = () =>
    readFile(join(ROOT, 'package.json'), 'utf8').then((t) => JSON.parse(t).version as string)

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('packaging'))
    deb = await packageDeb(dir)
    files = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
      .trim()
      .split('\n')
      .map((line) => line.split(/\s+/).at(-1)!.replace(/^\./, ''))
    // Installed by dpkg into a scratch root with a dpkg database of its own: what `apt install`
    // does on a gateway, but for the nodejs dependency, which that root does not hold.
    const root = join(dir, 'root')
    await mkdir(join(root, 'var/lib/dpkg/info'), { recursive: true })
    await mkdir(join(root, 'var/lib/dpkg/updates'), { recursive: true })
    await writeFile(join(root, 'var/lib/dpkg/status'), '')
    execFileSync(
      'dpkg',
      [`--root=${root}`, '--force-depends', '--force-script-chrootless', '--log=/dev/null', '-i', deb],
      { stdio: 'pipe' },
    )
  }, 120_000)
  afterAll(async () => {
    await cleanup?.()
  })

  it('is named and versioned from package.json, for every architecture, and needs Node.js 20.19', async () => {
    expect(deb).toBe(join(dir, `fwmesh_${await version()}_all.deb`))
    const control = execFileSync('dpkg-deb', ['-f', deb, 'Package', 'Architecture', 'Depends'], {
      encoding: 'utf8',
    })
    expect(control).toBe('Package: fwmesh\nArchitecture: all\nDepends: nodejs (>= 20.19)\n')
  })

  it('holds the binary, the units, a config per role, the hooks and the native addon for each gateway CPU', () => {
    for (const path of [
      '/usr/bin/fwmesh',
      '/usr/lib/fwmesh/fwmesh.mjs',
      '/usr/lib/fwmesh/package.json',
      '/lib/systemd/system/fwmesh-validator.service',
      '/lib/systemd/system/fwmesh-origin.service',
      '/lib/systemd/system/fwmesh-device.service',
      '/etc/fwmesh/validator.toml',
      '/etc/fwmesh/origin.toml',
      '/etc/fwmesh/device.toml',
      '/usr/lib/fwmesh/hooks/swupdate.sh',
      '/usr/lib/fwmesh/node_modules/classic-level/prebuilds/linux-arm64/classic-level.armv8.node',
      '/usr/lib/fwmesh/node_modules/classic-level/prebuilds/linux-arm/classic-level.armv7.node',
      '/usr/lib/fwmesh/node_modules/classic-level/prebuilds/linux-x64/classic-level.node',
      '/usr/share/doc/fwmesh/README.md',
    ])
      expect(files, path).toContain(path)
    expect(files.filter((f) => f.includes('/prebuilds/win32') || f.includes('/prebuilds/darwin'))).toEqual([])
    // An operator's edits to the configs survive an upgrade: dpkg keeps conffiles.
    const conffiles = execFileSync('dpkg-deb', ['-I', deb, 'conffiles'], { encoding: 'utf8' })
    expect(conffiles.trim().split('\n')).toEqual([
      '/etc/fwmesh/validator.toml',
      '/etc/fwmesh/origin.toml',
      '/etc/fwmesh/device.toml',
    ])
  })

  it('installs with dpkg, and runs: --version, and config check of its device config with a genesis', async () => {
    const listed = execFileSync('dpkg', [`--root=${join(dir, 'root')}`, '-l', 'fwmesh'], { encoding: 'utf8' })
    expect(listed).toMatch(
      new RegExp(`^ii  fwmesh\\s+${(await version()).replace(/\./g, '\\.')}\\s+all`, 'm'),
    )
    const bin = join(dir, 'root/usr/bin/fwmesh')
    const v = spawnSync(bin, ['--version'], { encoding: 'utf8' })
    expect(v.status, v.stderr).toBe(0)
    expect(v.stdout.trim()).toBe(await version())
    // The packaged device config names /etc/fwmesh/genesis.json and /var/lib/fwmesh; point
    // them into the scratch root, as the environment may (FWMESH_GENESIS, FWMESH_DATA_DIR).
    const genesis = join(dir, 'genesis.json')
    const made = spawnSync(
      bin,
      [
        'genesis',
        'init',
        '--chain-id',
        'pkg',
        '--validator',
        `v0=${'11'.repeat(32)}`,
        '--admin',
        '22'.repeat(32),
        '--out',
        genesis,
      ],
      { encoding: 'utf8' },
    )
    expect(made.status, made.stderr).toBe(0)
    const checked = spawnSync(bin, ['--json', 'config', 'check', join(dir, 'root/etc/fwmesh/device.toml')], {
      encoding: 'utf8',
      env: { ...process.env, FWMESH_GENESIS: genesis, FWMESH_DATA_DIR: join(dir, 'data') },
    })
    expect(checked.status, checked.stderr).toBe(0)
    expect(JSON.parse(checked.stdout)).toMatchObject({ ok: true, device: true, chain: 'pkg' })
  })

  it('ships units that systemd-analyze verify accepts, sandboxed where the role allows', async () => {
    const units = ['validator', 'origin', 'device'].map((r) =>
      join(dir, 'root/lib/systemd/system', `fwmesh-${r}.service`),
    )
    const validator = await readFile(units[0]!, 'utf8')
    for (const line of [
      'DynamicUser=yes',
      'StateDirectory=fwmesh',
      'ProtectSystem=strict',
      'NoNewPrivileges=yes',
    ])
      expect(validator).toContain(line)
    expect(await readFile(units[2]!, 'utf8')).toContain(
      'ExecStart=/usr/bin/fwmesh node --config /etc/fwmesh/device.toml',
    )
    const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' })
    if (analyze.status !== 0) return // no systemd here: the lines above are what can be checked
    // verify checks that ExecStart's program exists: point it at the unpacked binary.
    const copies = []
    for (const unit of units) {
      const copy = join(dir, unit.split('/').at(-1)!)
      await writeFile(
        copy,
        (await readFile(unit, 'utf8')).replaceAll('/usr/bin/fwmesh', join(dir, 'root/usr/bin/fwmesh')),
      )
      copies.push(copy)
    }
    const verify = spawnSync('systemd-analyze', ['verify', '--man=no', ...copies], { encoding: 'utf8' })
    expect(verify.status, verify.stderr).toBe(0)
    expect(verify.stderr.trim()).toBe('')
  })

  it('installs no production package whose engines refuse Node.js 20.19, and reads engine ranges right', () => {
    expect(enginesRefusing()).toEqual([])
    expect(admitsNode('>=22', '20.19.0')).toBe(false)
    expect(admitsNode('>= 10.x', '20.19.0')).toBe(true)
    expect(admitsNode('^12.20.0 || ^14.13.1 || >=16.0.0', '20.19.0')).toBe(true)
    expect(admitsNode('^18 || ^22', '20.19.0')).toBe(false)
    expect(admitsNode('>=20.19.0 <21', '20.19.0')).toBe(true)
    expect(admitsNode('>=20.20', '20.19.0')).toBe(false)
    expect(admitsNode('nonsense', '20.19.0')).toBe(false)
  })

  it('finds every native addon, each with binaries for linux-arm64 and linux-arm (armv7)', () => {
    const addons = nativeAddons()
    expect(addons.map((a) => a.package)).toContain('classic-level')
    expect(addons.filter((a) => a.missing.length > 0)).toEqual([])
  })
})
