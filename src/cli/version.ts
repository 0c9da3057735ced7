import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

/** How many folders up from this file package.json may be: dist/src/cli is three deep. */
const PACKAGE_JSON_DEPTH_MAX = 4

/**
 * fwmesh's version, from the package.json the running code belongs to: the bundled binary
 * (dist/fwmesh.mjs) and tsc's output (dist/src/cli/) sit at different depths, so it looks up
 * the folders for the package named fwmesh. "unknown" when it is not found (a copied binary).
 */
export function fwmeshVersion(from = import.meta.dirname): string {
  let dir = from
  for (let i = 0; i <= PACKAGE_JSON_DEPTH_MAX; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string
        version?: string
      }
      if (pkg.name === 'fwmesh' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // No package.json here, or not one we can read: look further up.
    }
    dir = dirname(dir)
  }
  return 'unknown'
}
