import { readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/node/config.js'

/**
 * Every option the installer docs name works (issue 21 part 5): each `[device]` section in
 * docs/installers.md and examples/hooks/README.md is a valid node configuration, each hook it
 * names ships in examples/hooks/ with a confirm mode, and each environment variable it sets is
 * one its hook reads.
 */

const ROOT = join(import.meta.dirname, '..', '..')
const DOCS = ['docs/installers.md', 'examples/hooks/README.md']

function tomlBlocks(doc: string): string[] {
  const text = readFileSync(join(ROOT, doc), 'utf8')
  return [...text.matchAll(/```toml\n([\s\S]*?)```/g)].map((m) => m[1]!)
}

/** The hook a `/usr/lib/fwmesh/hooks/x.sh` path names, as shipped in examples/hooks/. */
function hookSource(path: string): string {
  return readFileSync(join(ROOT, 'examples', 'hooks', basename(path)), 'utf8')
}

describe('docs: the installer docs', () => {
  for (const doc of DOCS) {
    const blocks = tomlBlocks(doc)

    it(`${doc} has device sections to check`, () => {
      expect(blocks.length).toBeGreaterThan(0)
    })

    blocks.forEach((block, i) => {
      it(`${doc}, device section ${i + 1}: a valid config whose hooks exist and read what it sets`, () => {
        // Some sections show only the hook keys; a node's file has a data_dir, product and hardware too.
        const missing = `${/\nproduct = /.test(block) ? '' : 'product = "gw"\n'}${/\nhardware = /.test(block) ? '' : 'hardware = "rev-b"\n'}`
        const withDefaults = block.replace('[device]\n', `[device]\n${missing}`)
        const parsed = parseConfig(`data_dir = "d"\n${withDefaults}`, doc, {}, '/etc/fwmesh')
        if (!parsed.ok) throw new Error(`${doc} block ${i + 1}: ${parsed.error.message}`)
        const device = parsed.value.device!
        const install = hookSource(device.installCommand[0]!)
        if (device.confirmCommand) {
          expect(device.confirmCommand[0]).toBe(device.installCommand[0])
          expect(device.confirmCommand.slice(1)).toEqual(['confirm'])
          expect(install).toMatch(/"\$\{1:-\}" = confirm/)
        }
        for (const name of Object.keys(device.installEnv)) {
          expect(install, `${basename(device.installCommand[0]!)} reads ${name}`).toContain(name)
        }
      })
    })
  }

  it('docs/installers.md names every hook that ships, and each has a confirm mode', () => {
    const text = readFileSync(join(ROOT, 'docs/installers.md'), 'utf8')
    for (const hook of ['rauc.sh', 'swupdate.sh', 'mender.sh', 'script.sh']) {
      expect(text).toContain(`/usr/lib/fwmesh/hooks/${hook}", "confirm"]`)
      expect(hookSource(hook)).toMatch(/"\$\{1:-\}" = confirm/)
    }
  })
})
