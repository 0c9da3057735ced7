/**
 * `npm run test:installers`: every example install hook (examples/hooks/) against the real
 * installer, in a sandbox, through the node's own hook runner (src/node/install-hook.ts).
 * scripts/install-installers.sh installs Debian's packages first; an installer whose package
 * is missing is listed as skipped, with the reason, and is not a failure.
 *
 * Prints installer | case | expected | outcome | ok and exits 1 when an expected outcome did
 * not happen. A plain tsx script rather than a vitest config: it needs root, Debian packages
 * and a private D-Bus, which `npm test` must never require, and its deliverable is the table.
 */
import type { Row } from './installers/common.js'
import { menderCases } from './installers/mender.js'
import { raucCases } from './installers/rauc.js'
import { scriptCases } from './installers/script.js'
import { swupdateCases } from './installers/swupdate.js'

const suites: Record<string, () => Promise<Row[]>> = {
  script: scriptCases,
  swupdate: swupdateCases,
  rauc: raucCases,
  mender: menderCases,
}

const only = process.argv.slice(2)
const rows: Row[] = []
for (const [name, suite] of Object.entries(suites)) {
  if (only.length > 0 && !only.includes(name)) continue
  try {
    rows.push(...(await suite()))
  } catch (error) {
    rows.push({
      installer: name,
      case: 'sandbox',
      expected: 'installed',
      outcome: `sandbox error: ${(error as Error).message.split('\n')[0]}`,
      ok: false,
    })
  }
}

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ').slice(0, 140)
console.log('| installer | case | expected | outcome | ok |')
console.log('|---|---|---|---|---|')
for (const r of rows) {
  const ok = r.ok === 'skipped' ? 'skipped' : r.ok ? 'yes' : '**NO**'
  console.log(`| ${r.installer} | ${cell(r.case)} | ${r.expected} | ${cell(r.outcome)} | ${ok} |`)
}
const failed = rows.filter((r) => r.ok === false).length
const skipped = rows.filter((r) => r.ok === 'skipped').length
console.log(`\n${rows.length - failed - skipped} as expected, ${failed} not, ${skipped} skipped`)
process.exit(failed > 0 ? 1 : 0)
