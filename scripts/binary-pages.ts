/**
 * `tsx scripts/binary-pages.ts <pid> [<baseline pid>]` (Linux, as root: /proc/<pid>/pagemap):
 * which pages of the Node.js binary a process has mapped, by the symbol that covers them
 * (`nm -S -C` on the binary), in MB. With a baseline pid (a bare `node -e
 * 'setInterval(() => {}, 1000)'`), only the pages the first process maps and the baseline
 * does not. About half of an idle node's RSS is this file: a bare node maps ~30 MB of it.
 *
 * How the WebAssembly in noise's crypto was found (1 MB of v8::internal::wasm pages), and the
 * ICU collator behind libp2p's localeCompare (icu_ and unnamed ICU data pages).
 */
import { execFileSync } from 'node:child_process'
import { open, readFile } from 'node:fs/promises'

const PAGE = 4096
/** Symbol name prefixes grouped into one line each; anything else is listed by its own name. */
const GROUPS = [
  'v8::internal::compiler',
  'v8::internal::maglev',
  'v8::internal::wasm',
  'v8::internal::baseline',
  'v8::internal::interpreter',
  'Builtins_',
  'v8::internal::',
  'node::',
  'icudt',
  'icu_',
  'uv_',
  'ares_',
  'std::',
]

async function mappedPages(pid: number, binary: string): Promise<Set<number>> {
  const pages = new Set<number>()
  const maps = await readFile(`/proc/${pid}/maps`, 'utf8')
  const pagemap = await open(`/proc/${pid}/pagemap`, 'r')
  try {
    for (const line of maps.split('\n')) {
      const fields = line.trim().split(/\s+/)
      if (fields[5] !== binary) continue
      const [lo, hi] = fields[0]!.split('-').map((x) => Number.parseInt(x, 16)) as [number, number]
      const entries = Buffer.alloc(((hi - lo) / PAGE) * 8)
      await pagemap.read(entries, 0, entries.length, (lo / PAGE) * 8)
      for (let i = 0; i < entries.length / 8; i++) {
        // Bit 63: the page is present in this process's page table.
        if (entries.readBigUInt64LE(i * 8) >> 63n) pages.add(lo + i * PAGE)
      }
    }
  } finally {
    await pagemap.close()
  }
  return pages
}

function symbols(binary: string): { start: number; end: number; name: string }[] {
  const out = execFileSync('nm', ['-S', '-C', '--defined-only', binary], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  })
  const list = []
  for (const line of out.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) \S (.*)$/.exec(line)
    if (!m) continue
    const start = Number.parseInt(m[1]!, 16)
    list.push({ start, end: start + Number.parseInt(m[2]!, 16), name: m[3]! })
  }
  return list.sort((a, b) => a.start - b.start)
}

async function main(): Promise<void> {
  const [pid, baselinePid] = process.argv.slice(2).map(Number)
  if (!pid) throw new Error('usage: tsx scripts/binary-pages.ts <pid> [<baseline pid>]')
  const binary = process.execPath
  const pages = await mappedPages(pid, binary)
  const baseline = baselinePid ? await mappedPages(baselinePid, binary) : new Set<number>()
  const syms = symbols(binary)
  const groups = new Map<string, number>()
  let s = 0
  for (const page of [...pages].filter((p) => !baseline.has(p)).sort((a, b) => a - b)) {
    while (s < syms.length && syms[s]!.end <= page) s++
    // The first symbol overlapping the page names it; pages without one are data or tables.
    const sym = syms.slice(s, s + 64).find((x) => x.start < page + PAGE && x.end > page)
    const name = sym ? (GROUPS.find((g) => sym.name.startsWith(g)) ?? sym.name.slice(0, 60)) : '(no symbol)'
    groups.set(name, (groups.get(name) ?? 0) + 1)
  }
  const total = [...groups.values()].reduce((a, b) => a + b, 0)
  console.log(
    `${((total * PAGE) / 2 ** 20).toFixed(2)} MB of ${binary} mapped${baselinePid ? ' beyond the baseline' : ''}`,
  )
  for (const [name, n] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
    console.log(`${((n * PAGE) / 2 ** 20).toFixed(2).padStart(7)} MB  ${name}`)
  }
}

await main()
