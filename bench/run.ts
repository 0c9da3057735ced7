/**
 * `npm run bench -- <name> [args]` runs `bench/<name>.ts`, which prints one JSON object on
 * stdout. With no name, every benchmark runs in turn. Each benchmark measures its baseline in
 * the same run (DEVELOPERS.md: performance is measured in benchmarks, never in timed tests).
 */
import '../src/polyfills.js'
import { readdir } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))
const available = (await readdir(here))
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort()

const [name, ...args] = process.argv.slice(2)
if (name !== undefined && !available.includes(name)) {
  process.stderr.write(`unknown benchmark "${name}"; available: ${available.join(', ')}\n`)
  process.exit(2)
}
for (const bench of name === undefined ? available : [name]) {
  const module = (await import(pathToFileURL(`${here}${bench}.ts`).href)) as {
    main(args: string[]): Promise<void>
  }
  await module.main(args)
}
