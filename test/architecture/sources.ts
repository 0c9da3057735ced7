import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { transformSync } from 'esbuild'

/** What the architecture tests share: the repository's root, its source files, their code. */

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Every .ts file under `folder` (relative to the root), as root-relative paths with `/`. */
export function tsFilesUnder(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => `${folder}/${name.split('\\').join('/')}`)
    .sort()
}

/**
 * A TypeScript file's code without its comments (and without type-only imports): esbuild
 * drops them, so a comment that names a call is no fault.
 */
export function codeOf(source: string): string {
  return transformSync(source, {
    loader: 'ts',
    tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true } },
  }).code
}
