import { spawnSync } from 'node:child_process'
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { INSTALL_HOOK_OUTPUT_TAIL_BYTES } from '../../src/constants.js'
import { type InstallHookConfig, type InstallJob, runInstallHook } from '../../src/node/install-hook.js'
import { tempDir } from '../helpers/tmp.js'

const HOOKS = resolve('examples/hooks')

let dir: string
let cleanup: () => Promise<void>
let job: InstallJob

/** Writes an executable shell script into the test directory; returns its path. */
async function script(name: string, body: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, `#!/bin/sh\n${body}\n`)
  await chmod(path, 0o755)
  return path
}

// Short but generous limits: the tests assert outcomes, never durations.
const FAST: Partial<InstallHookConfig> = { timeoutMs: 10_000, killGraceMs: 500, drainMs: 500 }

beforeAll(async () => {
  ;({ dir, cleanup } = await tempDir('install-hook'))
  const imagePath = join(dir, 'image with spaces.img')
  await writeFile(imagePath, 'firmware bytes')
  job = { imagePath, version: '2.4.0', release: 'bafyreleaseid', product: 'gw', hardware: 'rev-b' }
})

afterAll(async () => {
  await cleanup()
})

describe('node: install hook', () => {
  it('node: install hook: a hook that exits 0 is installed, and gets the image and version in argv and environment', async () => {
    const out = join(dir, 'seen.txt')
    const hook = await script(
      'record.sh',
      `printf '%s\\n' "$@" "$FWMESH_IMAGE" "$FWMESH_VERSION" "$FWMESH_RELEASE" "$FWMESH_PRODUCT" "$FWMESH_HARDWARE" "$EXTRA" > "${out}"`,
    )
    const outcome = await runInstallHook({ ...FAST, command: [hook, '--flag'], env: { EXTRA: 'x' } }, job)
    expect(outcome).toEqual({ ok: true })
    expect((await readFile(out, 'utf8')).split('\n')).toEqual([
      '--flag',
      job.imagePath,
      '2.4.0',
      job.imagePath,
      '2.4.0',
      'bafyreleaseid',
      'gw',
      'rev-b',
      'x',
      '',
    ])
  })

  it('node: install hook: a non-zero exit is a failure with the exit code and the last stderr line', async () => {
    const hook = await script('fail.sh', 'echo "checking bundle"; echo "error: bad signature" >&2; exit 3')
    expect(await runInstallHook({ ...FAST, command: [hook] }, job)).toEqual({
      ok: false,
      code: 'exit',
      exitCode: 3,
      detail: 'error: bad signature',
    })
  })

  it('node: install hook: with an empty stderr the detail is the end of stdout', async () => {
    const hook = await script('stdout.sh', 'echo "writing slot"; echo "no space left on device"; exit 1')
    const outcome = await runInstallHook({ ...FAST, command: [hook] }, job)
    expect(outcome).toEqual({
      ok: false,
      code: 'exit',
      exitCode: 1,
      detail: 'writing slot\nno space left on device',
    })
  })

  it('node: install hook: a timeout beyond one timer (install_timeout = "600h") does not kill the hook early', async () => {
    // 600 h is 2.16e9 ms, over setTimeout's 2^31-1: a plain timer fired after 1 ms.
    const hook = await script('slow-ok.sh', 'sleep 0.3; exit 0')
    const outcome = await runInstallHook({ ...FAST, command: [hook], timeoutMs: 600 * 3_600_000 }, job)
    expect(outcome).toEqual({ ok: true })
  })

  it('node: install hook: a hook past its timeout is terminated, with what it printed', async () => {
    const hook = await script('slow.sh', 'echo "writing rootfs" >&2; sleep 30')
    const outcome = await runInstallHook({ ...FAST, command: [hook], timeoutMs: 200 }, job)
    expect(outcome).toMatchObject({ ok: false, code: 'timeout', detail: 'writing rootfs' })
  })

  it('node: install hook: a hook that says at its timeout that the installer may still finish is unknown, not failed', async () => {
    const hook = await script(
      'unknown.sh',
      `trap 'echo "rauc.sh: unknown: the RAUC service is still installing" >&2; exit 1' TERM\necho "installing" >&2\nsleep 30 & wait`,
    )
    const outcome = await runInstallHook({ ...FAST, command: [hook], timeoutMs: 200 }, job)
    expect(outcome).toMatchObject({ ok: false, code: 'unknown' })
    expect(outcome.ok ? '' : outcome.detail).toMatch(/unknown: the RAUC service is still installing$/)
  })

  it('node: install hook: a hook that ignores SIGTERM is killed, together with the helpers it started', async () => {
    const pidFile = join(dir, 'helper.pid')
    const hook = await script('stubborn.sh', `trap '' TERM\nsleep 60 &\necho $! > "${pidFile}"\nwait`)
    const outcome = await runInstallHook({ ...FAST, command: [hook], timeoutMs: 200, killGraceMs: 200 }, job)
    expect(outcome).toMatchObject({ ok: false, code: 'timeout', signal: 'SIGKILL' })
    const helper = Number(await readFile(pidFile, 'utf8'))
    // The helper shared the hook's process group, so it got the group's SIGKILL too. Dead
    // means gone, or a zombie that no init process has reaped yet.
    let alive = true
    for (let i = 0; i < 50 && alive; i++) {
      const stat = await readFile(`/proc/${helper}/stat`, 'utf8').catch(() => '')
      alive = stat !== '' && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
      if (alive) await new Promise((r) => setTimeout(r, 20))
    }
    expect(alive).toBe(false)
  })

  it('node: install hook: a hook killed by a signal says which', async () => {
    const hook = await script('crash.sh', 'echo "segfault ahead" >&2; kill -SEGV $$')
    expect(await runInstallHook({ ...FAST, command: [hook] }, job)).toEqual({
      ok: false,
      code: 'signal',
      signal: 'SIGSEGV',
      detail: 'segfault ahead',
    })
  })

  it('node: install hook: a missing command cannot start', async () => {
    const outcome = await runInstallHook({ ...FAST, command: [join(dir, 'no-such-hook')] }, job)
    expect(outcome).toMatchObject({ ok: false, code: 'spawn-failed' })
    if (!outcome.ok) expect(outcome.detail).toMatch(/ENOENT/)
  })

  it('node: install hook: a file without execute permission cannot start', async () => {
    const path = join(dir, 'not-executable.sh')
    await writeFile(path, '#!/bin/sh\nexit 0\n')
    const outcome = await runInstallHook({ ...FAST, command: [path] }, job)
    expect(outcome).toMatchObject({ ok: false, code: 'spawn-failed' })
    if (!outcome.ok) expect(outcome.detail).toMatch(/EACCES/)
  })

  it('node: install hook: an empty command cannot start', async () => {
    expect(await runInstallHook({ ...FAST, command: [] }, job)).toEqual({
      ok: false,
      code: 'spawn-failed',
      detail: 'the install command is empty',
    })
  })

  it('node: install hook: megabytes of output are kept to their last bytes', async () => {
    // 8 MiB of progress lines, then the error that matters.
    const hook = await script(
      'chatty.sh',
      'head -c 8388608 /dev/zero | tr "\\\\000" "#" >&2; echo >&2; echo "fatal: image too large for slot" >&2; exit 2',
    )
    let streamed = 0
    const outcome = await runInstallHook({ ...FAST, command: [hook] }, job, {
      onOutput: (_stream, chunk) => {
        streamed += chunk.length
      },
    })
    expect(streamed).toBeGreaterThan(8 * 1024 * 1024)
    expect(outcome).toMatchObject({ ok: false, code: 'exit', exitCode: 2 })
    if (outcome.ok) return
    expect(Buffer.byteLength(outcome.detail)).toBeLessThanOrEqual(INSTALL_HOOK_OUTPUT_TAIL_BYTES)
    expect(outcome.detail.endsWith('fatal: image too large for slot')).toBe(true)
  })

  it('node: install hook: a background process holding the output does not hold up the outcome', async () => {
    const hook = await script('daemonize.sh', '(sleep 30 >&2) &\nexit 0')
    expect(await runInstallHook({ ...FAST, command: [hook], drainMs: 100 }, job)).toEqual({ ok: true })
  })

  it('node: install hook: no shell is involved: nothing in the path is interpreted', async () => {
    const out = join(dir, 'literal.txt')
    const hook = await script('literal.sh', `printf '%s' "$1" > "${out}"`)
    const hostile = { ...job, imagePath: '$(touch /tmp/fwmesh-pwned); `id`' }
    expect(await runInstallHook({ ...FAST, command: [hook] }, hostile)).toEqual({ ok: true })
    expect(await readFile(out, 'utf8')).toBe(hostile.imagePath)
  })
})

describe('node: install hook: examples', () => {
  it('node: install hook: examples: script.sh installs the image and the version atomically', async () => {
    const target = join(dir, 'installed')
    const outcome = await runInstallHook(
      { ...FAST, command: [join(HOOKS, 'script.sh')], env: { FWMESH_INSTALL_DIR: target } },
      job,
    )
    expect(outcome).toEqual({ ok: true })
    expect(await readFile(join(target, 'firmware.img'), 'utf8')).toBe('firmware bytes')
    expect(await readFile(join(target, 'version'), 'utf8')).toBe('2.4.0\n')
  })

  it('node: install hook: examples: script.sh links the image on the same file system (stored once), and installs it again', async () => {
    const target = join(dir, 'installed-linked')
    const hook = { ...FAST, command: [join(HOOKS, 'script.sh')], env: { FWMESH_INSTALL_DIR: target } }
    expect(await runInstallHook(hook, job)).toEqual({ ok: true })
    const installed = await stat(join(target, 'firmware.img'))
    expect(installed.ino).toBe((await stat(job.imagePath)).ino)
    // A restart during the install runs the hook again on the same image.
    expect(await runInstallHook(hook, job)).toEqual({ ok: true })
    expect(await readFile(join(target, 'firmware.img'), 'utf8')).toBe('firmware bytes')
  })

  it('node: install hook: examples: script.sh refuses a missing image with exit 66', async () => {
    const outcome = await runInstallHook(
      { ...FAST, command: [join(HOOKS, 'script.sh')], env: { FWMESH_INSTALL_DIR: join(dir, 'x') } },
      { ...job, imagePath: join(dir, 'missing.img') },
    )
    expect(outcome).toMatchObject({ ok: false, code: 'exit', exitCode: 66 })
  })

  // rauc.sh, swupdate.sh and mender.sh run against the real installers, in sandboxes, in
  // `npm run test:installers` (scripts/installers.ts): stand-ins would test only our guesses.
  it('node: install hook: examples: script.sh confirm says whether the version runs (0), or which one runs instead (1)', async () => {
    const target = join(dir, 'confirm')
    await mkdir(target, { recursive: true })
    await writeFile(join(target, 'version'), '2.3.0\n')
    const confirm = (version: string) =>
      spawnSync(join(HOOKS, 'script.sh'), ['confirm', version], {
        env: { ...process.env, FWMESH_INSTALL_DIR: target },
        encoding: 'utf8',
      })
    expect(confirm('2.3.0')).toMatchObject({ status: 0 })
    expect(confirm('2.4.0')).toMatchObject({
      status: 1,
      stdout: '2.3.0\n',
      stderr: 'script.sh: rolled back: running 2.3.0, not 2.4.0\n',
    })
  })
})
