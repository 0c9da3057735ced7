import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CONFIG_DEPTH_MAX, CONFIG_FILE_BYTES_MAX } from '../../src/constants.js'
import { loadConfig } from '../../src/node/config.js'
import { tempDir } from '../helpers/tmp.js'

async function load(text: string) {
  const { dir, cleanup } = await tempDir('config-parse')
  try {
    const path = join(dir, 'fwmesh.toml')
    await writeFile(path, text)
    return await loadConfig(path, {})
  } finally {
    await cleanup()
  }
}

describe('node: config file decoding is bounded', () => {
  it('refuses a file over CONFIG_FILE_BYTES_MAX before parsing it, naming the limit', async () => {
    const padding = `# ${'x'.repeat(98)}\n`.repeat(Math.ceil(CONFIG_FILE_BYTES_MAX / 100) + 1)
    const r = await load(`data_dir = "data"\n${padding}`)
    expect(r.ok ? 'loaded' : r.error.message).toContain(`over the limit of ${CONFIG_FILE_BYTES_MAX}`)
    const fits = await load(`data_dir = "data"\n${padding.slice(0, CONFIG_FILE_BYTES_MAX - 100)}`)
    expect(fits.ok, fits.ok ? '' : fits.error.message).toBe(true)
  })

  it('refuses inline values nested deeper than CONFIG_DEPTH_MAX as invalid TOML', async () => {
    const deep = (n: number) => `${'['.repeat(n)}"/ip4/127.0.0.1/tcp/1"${']'.repeat(n)}`
    const r = await load(`data_dir = "data"\n[network]\nbootstrap = ${deep(CONFIG_DEPTH_MAX + 1)}\n`)
    expect(r.ok ? 'loaded' : r.error.message).toMatch(/is not valid TOML: .*nested/i)
  })
})
