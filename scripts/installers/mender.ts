/**
 * Mender 3.x sandbox (Debian 12's mender-client 3.4, standalone mode): mender.conf and the
 * data dir in a temp dir, module-image artifacts written by mender-artifact for the
 * `single-file` update module (into a temp dir, no reboot: the hook commits) and for a copy of
 * it that asks for a reboot (put in Mender's fixed module dir for the run) (the hook leaves it uncommitted; the "failed boot" is `mender
 * rollback`, as the bootloader would do). Mender reads the first artifact name from the fixed
 * path /etc/mender/artifact_info: written here when absent, and removed again.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../../test/helpers/tmp.js'
import {
  confirm,
  describeOutcome,
  type Expected,
  HANG_TIMEOUT_MS,
  have,
  install,
  type Row,
  row,
  sh,
} from './common.js'
import { mkfifo } from './fifo.js'

const NAME = 'mender'
const VERSION = '2.0.0'
const ARTIFACT_INFO = '/etc/mender/artifact_info'
const MODULES = '/usr/share/mender/modules/v3'
const MODULE = `${MODULES}/single-file`
/** single-file, but asking for a reboot. Mender 3.4 reads update modules only from MODULES
 * (no config key moves it), so the test puts it there and removes it. */
const REBOOT_MODULE = `${MODULES}/fwmesh-test-reboot`

export async function menderCases(): Promise<Row[]> {
  for (const p of ['mender', 'mender-artifact']) {
    if (!have(p))
      return [
        { installer: NAME, case: '-', expected: 'skipped', outcome: `${p} is not installed`, ok: 'skipped' },
      ]
  }
  if (!existsSync(MODULE)) {
    return [
      { installer: NAME, case: '-', expected: 'skipped', outcome: `${MODULE} is missing`, ok: 'skipped' },
    ]
  }
  const { dir, cleanup } = await tempDir('mender')
  const ownInfo = !existsSync(ARTIFACT_INFO)
  try {
    if (ownInfo) {
      mkdirSync('/etc/mender', { recursive: true })
      writeFileSync(ARTIFACT_INFO, 'artifact_name=1.0.0\n')
    }
    const rebooting = readFileSync(MODULE, 'utf8').replace(
      /(NeedsArtifactReboot\)\s*\n\s*echo )"No"/,
      '$1"Yes"',
    )
    writeFileSync(REBOOT_MODULE, rebooting, { mode: 0o755 })

    const payload = randomBytes(4096)
    const dest = join(dir, 'dest')
    writeFileSync(join(dir, 'fw.img'), payload)
    writeFileSync(join(dir, 'dest_dir'), `${dest}\n`)
    writeFileSync(join(dir, 'filename'), 'fw.img\n')
    const artifact = (name: string, type: string, deviceType: string) => {
      const out = join(dir, `${name}.mender`)
      sh('mender-artifact', [
        'write',
        'module-image',
        '-T',
        type,
        '-n',
        VERSION,
        '-t',
        deviceType,
        '-o',
        out,
        '-f',
        join(dir, 'fw.img'),
        '-f',
        join(dir, 'dest_dir'),
        '-f',
        join(dir, 'filename'),
      ])
      return out
    }
    const good = artifact('good', 'single-file', 'gw')
    const wrong = artifact('wrong', 'single-file', 'other-board')
    const reboot = artifact('reboot', 'fwmesh-test-reboot', 'gw')
    const bytes = readFileSync(good)
    for (let i = 0; i < 16; i++) bytes[bytes.length - 2000 + i] = (bytes[bytes.length - 2000 + i] ?? 0) ^ 0xff
    const corrupted = join(dir, 'corrupted.mender')
    writeFileSync(corrupted, bytes)
    const stuck = join(dir, 'stuck.mender')
    mkfifo(stuck)

    /** A fresh device: its data dir (device_type gw) and config. */
    let n = 0
    const device = () => {
      const d = join(dir, `device${n++}`)
      mkdirSync(join(d, 'data'), { recursive: true })
      writeFileSync(join(d, 'data', 'device_type'), 'device_type=gw\n')
      writeFileSync(
        join(d, 'mender.conf'),
        JSON.stringify({ ModulesWorkPath: join(d, 'data', 'modules', 'v3') }),
      )
      const args = `--no-syslog --config ${join(d, 'mender.conf')} --data ${join(d, 'data')}`
      return { args, env: { MENDER_CLIENT: 'mender', MENDER_ARGS: args } }
    }
    const rows: Row[] = []
    const job = (imagePath: string) => ({
      imagePath,
      version: VERSION,
      release: 'test',
      product: 'gw',
      hardware: 'rev-b',
    })
    const run = async (
      name: string,
      expected: Expected,
      image: string,
      env: Record<string, string>,
      reason?: RegExp,
      timeoutMs?: number,
    ) =>
      rows.push(
        row(
          NAME,
          name,
          expected,
          describeOutcome(await install('mender.sh', job(image), env, timeoutMs)),
          reason,
        ),
      )
    const running = (args: string) => sh('sh', ['-c', `mender ${args} show-artifact 2>/dev/null`]).trim()

    let d = device()
    await run('good image (3.x: install, commit)', 'installed', good, d.env)
    const copied = existsSync(join(dest, 'fw.img')) && readFileSync(join(dest, 'fw.img')).equals(payload)
    const now = running(d.args)
    rows.push(
      row(
        NAME,
        'good image: committed, file written',
        'installed',
        copied && now === VERSION ? 'installed' : `show-artifact ${now}, file written ${copied}`,
      ),
    )
    rows.push(row(NAME, 'confirm', 'confirmed', await confirm('mender.sh', VERSION, d.env)))

    d = device()
    await run('wrong device type', 'failed', wrong, d.env, /compatible|device type/i)
    await run('corrupted image', 'failed', corrupted, d.env)
    await run('timeout', 'failed (timed out)', stuck, d.env, undefined, HANG_TIMEOUT_MS)

    d = device()
    await run('reboot needed: installed, uncommitted', 'installed', reboot, d.env)
    // The new version did not boot: the bootloader fell back, which standalone Mender is told
    // with `rollback`.
    const back = spawnSync('sh', ['-c', `mender ${d.args} rollback`], { encoding: 'utf8' })
    // `rollback` works only on an uncommitted update: it proves the hook did not commit.
    const backOutcome =
      back.status === 0 ? 'rolled back' : `failed: ${back.stderr.trim().split('\n').slice(-1)}`
    rows.push(row(NAME, 'rollback: mender rollback (the update was uncommitted)', 'rolled back', backOutcome))
    rows.push(
      row(
        NAME,
        'rollback: 1.0.0 still runs: confirm',
        'rolled back',
        await confirm('mender.sh', VERSION, d.env),
        /1\.0\.0/,
      ),
    )
    return rows
  } finally {
    if (ownInfo) rmSync(ARTIFACT_INFO, { force: true })
    rmSync(REBOOT_MODULE, { force: true })
    await cleanup()
  }
}
