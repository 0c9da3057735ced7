import { execFile } from 'node:child_process'
import { chmod, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FWMESH_BIN } from '../helpers/cli.js'
import { tempDir } from '../helpers/tmp.js'

const run = promisify(execFile)

/**
 * bin/fwmesh with a stand-in `node` first on the PATH that prints what it was given: the
 * launcher's arguments and environment, without starting Node.js.
 */
describe('cli: the bin/fwmesh launcher', () => {
  let dir: string
  let cleanup: () => Promise<void>

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('launcher'))
    const fakeNode = join(dir, 'node')
    await writeFile(fakeNode, '#!/bin/sh\nprintf "%s\\n" "$@"\necho ---\nenv\n')
    await chmod(fakeNode, 0o755)
  })

  afterAll(async () => {
    await cleanup?.()
  })

  async function launch(env: Record<string, string>): Promise<{ args: string[]; env: string[] }> {
    const out = await run(FWMESH_BIN, ['status', '--json'], {
      env: { ...process.env, ...env, PATH: `${dir}:${process.env.PATH}` },
    })
    const [args, vars] = out.stdout.split('---\n')
    return { args: args!.trim().split('\n'), env: vars!.trim().split('\n') }
  }

  it('runs the bundled binary with the arguments it was given', async () => {
    const { args } = await launch({})
    expect(args[0]).toMatch(/\/bin\/\.\.\/dist\/fwmesh\.mjs$/)
    expect(args.slice(1)).toEqual(['status', '--json'])
  })

  it('sets glibc malloc tuning for the node', async () => {
    const { env } = await launch({ MALLOC_ARENA_MAX: '', MALLOC_MMAP_THRESHOLD_: '' })
    expect(env).toContain('MALLOC_MMAP_THRESHOLD_=131072')
    expect(env).toContain('MALLOC_ARENA_MAX=2')
  })

  it("keeps a caller's own malloc settings", async () => {
    const { env } = await launch({ MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '65536' })
    expect(env).toContain('MALLOC_ARENA_MAX=4')
    expect(env).toContain('MALLOC_MMAP_THRESHOLD_=65536')
  })

  it("bundles no WebAssembly: noise's is left out (src/node/noise-crypto.ts)", async () => {
    const bundled = await readFile(join(FWMESH_BIN, '../../dist/fwmesh.mjs'), 'utf8')
    expect(bundled).toContain('@chainsafe/libp2p-noise')
    expect(bundled).not.toMatch(/WebAssembly\.(Module|Instance|instantiate|compile)/)
  })

  it("sorts libp2p's peer store without localeCompare (scripts/bundle.ts: no ICU collator)", async () => {
    const bundled = await readFile(join(FWMESH_BIN, '../../dist/fwmesh.mjs'), 'utf8')
    expect(bundled).toContain('__ordinalCompare(')
    // What is left is commander's: help listings and "did you mean" suggestions, never the node.
    const left = [...bundled.matchAll(/.{0,120}\.localeCompare\(/g)].map((m) => m[0])
    expect(left, left.join('\n')).toHaveLength(3)
    for (const context of left) expect(context).toMatch(/visibleCommands|getSortKey|similar/)
  })
})
