/** The plain script hook (examples/hooks/script.sh): an install dir in a temp dir. */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../../test/helpers/tmp.js'
import { confirm, describeOutcome, HANG_TIMEOUT_MS, install, type Row, row } from './common.js'
import { mkfifo } from './fifo.js'

const NAME = 'script'

export async function scriptCases(): Promise<Row[]> {
  const { dir, cleanup } = await tempDir('script-hook')
  try {
    const target = join(dir, 'installed')
    const env = { FWMESH_INSTALL_DIR: target }
    const image = join(dir, 'fw.img')
    const payload = randomBytes(4096)
    writeFileSync(image, payload)
    const job = (imagePath: string, version: string) => ({
      imagePath,
      version,
      release: 'test',
      product: 'gw',
    })
    const rows: Row[] = []

    const good = describeOutcome(await install('script.sh', job(image, '2.0.0'), env))
    const copied = readFileSync(join(target, 'firmware.img')).equals(payload)
    rows.push(row(NAME, 'good image', 'installed', copied ? good : `${good} (image not copied)`))
    rows.push(row(NAME, 'boot into 2.0.0: confirm', 'confirmed', await confirm('script.sh', '2.0.0', env)))
    rows.push(
      row(
        NAME,
        'missing image',
        'failed',
        describeOutcome(await install('script.sh', job(join(dir, 'none'), '2.1.0'), env)),
        /cannot read/,
      ),
    )
    // A FIFO nobody writes, on another file system than the install dir (/dev/shm, a tmpfs):
    // script.sh links an image when it can, so only a copy (across file systems) reads it, and
    // blocks until the timeout.
    const stuck = join(existsSync('/dev/shm') ? '/dev/shm' : dir, `fwmesh-stuck-${process.pid}.img`)
    mkfifo(stuck)
    rows.push(
      row(
        NAME,
        'timeout',
        'failed (timed out)',
        describeOutcome(await install('script.sh', job(stuck, '2.1.0'), env, HANG_TIMEOUT_MS)),
      ),
    )
    rmSync(stuck, { force: true })
    // Rollback: the install reported, but the device came back on the old version.
    writeFileSync(join(target, 'version'), '1.0.0\n')
    rows.push(
      row(
        NAME,
        'rollback: 1.0.0 still runs: confirm',
        'rolled back',
        await confirm('script.sh', '2.0.0', env),
        /1\.0\.0/,
      ),
    )
    return rows
  } finally {
    await cleanup()
  }
}
