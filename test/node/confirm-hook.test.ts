import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { confirmInstall, runConfirmHook } from '../../src/node/confirm-hook.js'
import type { InstallHookConfig, InstallJob } from '../../src/node/install-hook.js'
import { tempDir } from '../helpers/tmp.js'

/**
 * The confirm step's I/O (docs/lifecycle.md): a real confirm hook's exit 0, 1, 2, other exits
 * and timeouts as the agent's ConfirmOutcome, and the fallbacks without a hook.
 */
let dir: string
let cleanup: () => Promise<void>
const job: InstallJob = { imagePath: '', version: '2.4.0', release: 'bafyrelease', product: 'gw' }
const FAST: Partial<InstallHookConfig> = { timeoutMs: 10_000, killGraceMs: 500, drainMs: 500 }

async function hook(name: string, body: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, `#!/bin/sh\n${body}\n`)
  await chmod(path, 0o755)
  return path
}

beforeAll(async () => {
  ;({ dir, cleanup } = await tempDir('confirm-hook'))
})
afterAll(async () => {
  await cleanup()
})

describe('node: confirm hook', () => {
  it('exit 0 means the version runs; the hook got "confirm" and the version as its arguments', async () => {
    const seen = join(dir, 'argv')
    const h = await hook('ok.sh', `echo "$@" > "${seen}"; echo "$2 confirmed"`)
    expect(await runConfirmHook({ ...FAST, command: [h, 'confirm'] }, job)).toEqual({ state: 'running' })
    const { readFile } = await import('node:fs/promises')
    expect((await readFile(seen, 'utf8')).trim()).toBe('confirm 2.4.0')
  })

  it('exit 1 means another version runs, named by the last line of stdout', async () => {
    const h = await hook(
      'other.sh',
      'echo "slot A"; echo 2.3.1; echo "rolled back: running 2.3.1" >&2; exit 1',
    )
    expect(await runConfirmHook({ ...FAST, command: [h, 'confirm'] }, job)).toEqual({
      state: 'other',
      running: '2.3.1',
      detail: 'rolled back: running 2.3.1',
    })
  })

  it('exit 1 with a running version that is not a version ("unknown") names none', async () => {
    const h = await hook('other-unknown.sh', 'echo unknown; exit 1')
    expect(await runConfirmHook({ ...FAST, command: [h, 'confirm'] }, job)).toEqual({
      state: 'other',
      detail: 'unknown',
    })
  })

  it('exit 2, any other exit, a timeout and a missing program are unknown', async () => {
    const two = await hook('busy.sh', 'echo "rauc: busy" >&2; exit 2')
    const five = await hook('broken.sh', 'exit 5')
    const slow = await hook('slow.sh', 'sleep 30')
    const outcomes = await Promise.all([
      runConfirmHook({ ...FAST, command: [two, 'confirm'] }, job),
      runConfirmHook({ ...FAST, command: [five, 'confirm'] }, job),
      runConfirmHook({ ...FAST, command: [slow, 'confirm'], timeoutMs: 200 }, job),
      runConfirmHook({ ...FAST, command: [join(dir, 'missing.sh'), 'confirm'] }, job),
    ])
    expect(outcomes.map((o) => o.state)).toEqual(['unknown', 'unknown', 'unknown', 'unknown'])
    expect(outcomes.map((o) => (o.state === 'unknown' ? o.detail : ''))).toEqual([
      'the confirm command exited with 2: rauc: busy',
      'the confirm command exited with 5',
      'the confirm command timed out',
      expect.stringMatching(/^the confirm command could not start: .*ENOENT/),
    ])
  })

  it('without a hook, the version file decides; without either, only a hook that exited counts', async () => {
    const file = join(dir, 'version')
    await writeFile(file, '2.4.0\n')
    expect(await confirmInstall({ hook: null, versionFile: file }, job, false)).toEqual({ state: 'running' })
    await writeFile(file, '2.3.1\n')
    expect(await confirmInstall({ hook: null, versionFile: file }, job, true)).toMatchObject({
      state: 'other',
      running: '2.3.1',
    })
    expect(await confirmInstall({ hook: null, versionFile: join(dir, 'none') }, job, true)).toMatchObject({
      state: 'unknown',
    })
    expect(await confirmInstall({ hook: null, versionFile: null }, job, true)).toEqual({ state: 'running' })
    expect(await confirmInstall({ hook: null, versionFile: null }, job, false)).toMatchObject({
      state: 'other',
    })
  })
})
