import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { bundle } from '../scripts/bundle.js'

/**
 * Builds `src/` into `dist/` and bundles the `fwmesh` binary (scripts/bundle.ts) once per
 * test run, so CLI tests run the built binary as a user would (and start in 0.6 s instead of 2 s through tsx).
 */
export default async function setup(): Promise<void> {
  const root = join(import.meta.dirname, '..')
  execFileSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')],
    {
      cwd: root,
      stdio: 'inherit',
    },
  )
  await bundle(root)
}
