import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { configExample } from '../../src/cli/config-example.js'

const ROOT = join(import.meta.dirname, '..', '..')

describe('fwmesh config example --role device', () => {
  it('names as version file the one its install hook writes, so a restarted device knows what it runs', async () => {
    const hook = await readFile(join(ROOT, 'examples/hooks/script.sh'), 'utf8')
    const installDir = /dir=\$\{FWMESH_INSTALL_DIR:-([^}]+)\}/.exec(hook)?.[1]
    expect(installDir).toBe('/var/lib/fwmesh/installed')
    const example = configExample('device')
    expect(example).toContain('install_command = ["/usr/lib/fwmesh/hooks/script.sh"]')
    expect(example).toContain(`version_file = "${installDir}/version"`)
  })
})
