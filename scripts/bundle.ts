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

import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build, type Plugin } from 'esbuild'

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

/**
 * libp2p's peer store sorts multiaddrs, protocol ids and metadata keys with localeCompare, only
 * to keep them in a canonical order (and to compare two address lists). The first
 * localeCompare in a process builds an ICU collator: 2.9 MB of RSS for good (a bare `node`
 * measured 45.0 MB after one call against 42.1). In the bundle these sorts compare UTF-16 code
 * units instead: still a total order, and the order stays inside each node's own peer store.
 * The build fails if one of these files changes so that a localeCompare is left.
 */
const ORDINAL_SORT_FILES = /@libp2p[\\/](peer-store|peer-record)[\\/]dist[\\/].*\.js$/
const LOCALE_COMPARE =
  /\b(a(?:\.multiaddr)?(?:\.toString\(\))?)\.localeCompare\((b(?:\.multiaddr)?(?:\.toString\(\))?)\)/g

const ordinalSorts: Plugin = {
  name: 'ordinal-sorts',
  setup(b) {
    b.onLoad({ filter: ORDINAL_SORT_FILES }, async (args) => {
      const source = await readFile(args.path, 'utf8')
      if (!source.includes('localeCompare')) return undefined
      const contents = `${source.replace(LOCALE_COMPARE, '__ordinalCompare($1, $2)')}
function __ordinalCompare(a, b) { return a < b ? -1 : a > b ? 1 : 0 }
`
      if (contents.includes('.localeCompare(')) {
        throw new Error(`${args.path}: a localeCompare that scripts/bundle.ts does not rewrite`)
      }
      return { contents, loader: 'js' }
    })
  },
}

export async function bundle(root: string): Promise<void> {
  await build({
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
    plugins: [ordinalSorts],
    logLevel: 'warning',
  })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundle(join(import.meta.dirname, '..'))
