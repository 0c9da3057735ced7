/**
 * Bundles the compiled `fwmesh` binary (dist/src/cli/main.js, from `tsc`) into one file,
 * dist/fwmesh.mjs, the `bin` of package.json. Run by `npm run build` and by the test suite's
 * global setup, after tsc.
 *
 * Why a bundle: memory. Node keeps every loaded module's source text, its module record and
 * the package.json files it resolved through; the node daemon loads ~600 modules (libp2p and
 * its dependencies). Loading dist/src/node/daemon.js unbundled costs 36 MB of anonymous
 * memory over a bare Node.js process (heap 16 MB after a full GC); the same code bundled,
 * whitespace and syntax minified, costs 12 MB (heap 9 MB), and an idle follower went from
 * 85.7 to 76.2 MB RSS (scripts measured in the commit that added this file). Identifiers are
 * kept, so stack traces in logs stay readable.
 *
 * level (classic-level) loads a native addon by path, so it stays outside the bundle.
 */

import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildSync } from 'esbuild'

/** Packages left as imports: native addons found relative to their own package. */
const EXTERNAL: readonly string[] = ['level', 'classic-level']

/**
 * WebAssembly crypto that noise imports (and instantiates at load) but the node never calls:
 * it gives noise node:crypto (src/node/noise-crypto.ts). Left in, the two modules cost ~8 MB of
 * an idle node's RSS. The stub throws if it is ever called.
 */
const WASM_STUBS: Record<string, string> = {
  '@chainsafe/as-chacha20poly1305': './scripts/bundle-stubs/as-wasm.js',
  '@chainsafe/as-sha256': './scripts/bundle-stubs/as-wasm.js',
}

export function bundle(root: string): void {
  buildSync({
    entryPoints: [join(root, 'dist/src/cli/main.js')],
    outfile: join(root, 'dist/fwmesh.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: [...EXTERNAL],
    alias: WASM_STUBS,
    absWorkingDir: root,
    minifyWhitespace: true,
    minifySyntax: true,
    // CommonJS dependencies (commander, pino) call require(); ESM output has none of its own.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: 'warning',
  })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) bundle(join(import.meta.dirname, '..'))
