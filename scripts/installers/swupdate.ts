/**
 * SWUpdate sandbox: a signed .swu (cpio with sw-description, its CMS signature and a raw
 * image, hardware-compatibility "1.0") whose two copies are files in a temp dir, installed by
 * Debian's swupdate through examples/hooks/swupdate.sh, locally and through a running daemon
 * (swupdate-client).
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { tempDir } from '../../test/helpers/tmp.js'
import {
  confirm,
  daemon,
  describeOutcome,
  type Expected,
  HANG_TIMEOUT_MS,
  have,
  install,
  type Row,
  row,
  sh,
  signingCert,
  waitFor,
} from './common.js'
import { mkfifo } from './fifo.js'

const NAME = 'swupdate'
const VERSION = '2.0.0'
const SOCKET = '/tmp/sockinstctrl'
const PROGRESS_SOCKET = '/tmp/swupdateprog'

export async function swupdateCases(): Promise<Row[]> {
  for (const p of ['swupdate', 'swupdate-client', 'cpio', 'openssl']) {
    if (!have(p))
      return [
        { installer: NAME, case: '-', expected: 'skipped', outcome: `${p} is not installed`, ok: 'skipped' },
      ]
  }
  const { dir, cleanup } = await tempDir('swupdate')
  try {
    const { key, cert } = signingCert(dir)
    const payload = randomBytes(64 * 1024)
    const copy = (n: number) => join(dir, `copy${n}.img`)
    const build = (name: string) => {
      const src = join(dir, `${name}.d`)
      sh('mkdir', ['-p', src])
      writeFileSync(join(src, 'rootfs.img'), payload)
      const sha = createHash('sha256').update(payload).digest('hex')
      const file = (n: number) => `{ filename = "rootfs.img"; path = "${copy(n)}"; sha256 = "${sha}"; }`
      writeFileSync(
        join(src, 'sw-description'),
        `software = {\n  version = "${VERSION}";\n  hardware-compatibility = [ "1.0" ];\n` +
          `  stable = {\n    copy1 = { files: ( ${file(1)} ); };\n    copy2 = { files: ( ${file(2)} ); };\n  };\n}\n`,
      )
      sh('openssl', [
        'cms',
        '-sign',
        '-in',
        join(src, 'sw-description'),
        '-out',
        join(src, 'sw-description.sig'),
        '-signer',
        cert,
        '-inkey',
        key,
        '-outform',
        'DER',
        '-nosmimecap',
        '-binary',
      ])
      const swu = join(dir, `${name}.swu`)
      sh(
        'sh',
        ['-c', `printf 'sw-description\\nsw-description.sig\\nrootfs.img\\n' | cpio -o -H crc > "${swu}"`],
        { cwd: src },
      )
      return swu
    }
    const good = build('good')
    // Corrupted: payload bytes changed inside the archive; its sha256 no longer matches.
    const bytes = readFileSync(good)
    const at = bytes.indexOf(payload.subarray(0, 64))
    for (let i = 0; i < 16; i++) bytes[at + 1000 + i] = (bytes[at + 1000 + i] ?? 0) ^ 0xff
    const corrupted = join(dir, 'corrupted.swu')
    writeFileSync(corrupted, bytes)
    // The timeout: a FIFO nobody writes, so swupdate blocks reading the "image" until killed.
    const stuck = join(dir, 'stuck.swu')
    mkfifo(stuck)

    const job = (imagePath: string) => ({
      imagePath,
      version: VERSION,
      release: 'test',
      product: 'gw',
      hardware: '1.0',
    })
    const base = { SWUPDATE_KEY: cert, SWUPDATE_SELECTION: 'stable,copy2' }
    const rows: Row[] = []
    const run = async (
      name: string,
      expected: Expected,
      image: string,
      env: Record<string, string>,
      o: { reason?: RegExp; hardware?: string; timeoutMs?: number } = {},
    ) => {
      // A swupdate killed earlier (the timeout case, a past run) leaves its control socket,
      // and a new one then cannot start: remove it while nothing listens on it.
      for (const path of [SOCKET, PROGRESS_SOCKET]) {
        if (existsSync(path) && !(await listening(path))) rmSync(path, { force: true })
      }
      const outcome = await install(
        'swupdate.sh',
        { ...job(image), hardware: o.hardware ?? '1.0' },
        env,
        o.timeoutMs,
      )
      const reason = o.reason
      rows.push(row(NAME, name, expected, describeOutcome(outcome), reason))
      return outcome
    }

    await run('good image (-e stable,copy2)', 'installed', good, base)
    const written = existsSync(copy(2)) && readFileSync(copy(2)).equals(payload) && !existsSync(copy(1))
    rows.push({
      installer: NAME,
      case: 'good image: copy2 written, copy1 untouched',
      expected: 'installed',
      outcome: written ? 'installed' : 'copy2 not written as selected',
      ok: written,
    })
    await run('wrong hardware (2.0)', 'failed', good, base, {
      hardware: '2.0',
      reason: /not compatible with hardware/,
    })
    await run('corrupted image', 'failed', corrupted, base, { reason: /hash|sha|corrupt/i })
    await run('timeout', 'failed (timed out)', stuck, base, { timeoutMs: HANG_TIMEOUT_MS })

    const versionFile = join(dir, 'running-version')
    const bootEnv = {
      SWUPDATE_VERSION_FILE: versionFile,
      SWUPDATE_CONFIRM_CMD: `touch ${join(dir, 'confirmed')}`,
    }
    writeFileSync(versionFile, `${VERSION}\n`)
    const booted = await confirm('swupdate.sh', VERSION, bootEnv)
    rows.push(
      row(
        NAME,
        'boot into 2.0.0: confirm',
        'confirmed',
        existsSync(join(dir, 'confirmed')) ? booted : `${booted} (confirm command not run)`,
      ),
    )
    writeFileSync(versionFile, '1.0.0\n')
    rows.push(
      row(
        NAME,
        'rollback: 1.0.0 still runs: confirm',
        'rolled back',
        await confirm('swupdate.sh', VERSION, bootEnv),
        /1\.0\.0/,
      ),
    )

    // Daemon mode: a running swupdate (its own -k and -H) takes the image from swupdate-client.
    if (existsSync(SOCKET) && (await listening(SOCKET))) {
      rows.push({
        installer: NAME,
        case: 'daemon',
        expected: 'skipped',
        outcome: `${SOCKET} exists: another swupdate runs`,
        ok: 'skipped',
      })
    } else {
      rmSync(SOCKET, { force: true })
      rmSync(PROGRESS_SOCKET, { force: true })
      const d = daemon('swupdate', ['-k', cert, '-H', 'gw:1.0', '-q', 'stable,copy1'])
      try {
        await waitFor('the swupdate daemon', () => existsSync(SOCKET) || d.exited())
        const env = { SWUPDATE_MODE: 'daemon', SWUPDATE_SELECTION: 'stable,copy1' }
        await run('daemon (swupdate-client): good image', 'installed', good, env)
        const ok = existsSync(copy(1)) && readFileSync(copy(1)).equals(payload)
        rows.push({
          installer: NAME,
          case: 'daemon: copy1 written',
          expected: 'installed',
          outcome: ok ? 'installed' : 'copy1 not written',
          ok,
        })
        await run('daemon (swupdate-client): corrupted image', 'failed', corrupted, env)
      } finally {
        d.stop()
      }
    }
    return rows
  } finally {
    await cleanup()
  }
}

/** Whether a process accepts connections on the unix socket (a stale socket file refuses). */
function listening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path)
    s.on('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.on('error', () => resolve(false))
  })
}
