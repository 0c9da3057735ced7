import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { NodeClient } from '../../src/cli/api-client.js'
import { loadConfig } from '../../src/node/config.js'

/**
 * docs/operator-guide.md cannot go stale: its `sh` blocks run, in order and as written, as one
 * bash script in an empty directory, with the repository's built `fwmesh` (bin/) first on PATH.
 * The only changes are the two the guide documents: every `*.example` host name becomes
 * 127.0.0.1, and every all-interface listen address a loopback one. Before the guide's last section (which stops every node) the script pauses while
 * this test asks every device's API, itself, whether it runs the release.
 */
const ROOT = join(import.meta.dirname, '..', '..')
const GUIDE = join(ROOT, 'docs/operator-guide.md')
/** The version the guide publishes; the test checks the guide still says so. */
const RELEASED = '1.1.0'
const DEVICES = 3
/** The guide waits on progress itself; this only ends a run that hangs (a node that never starts). */
const SCRIPT_TIMEOUT_MS = 5 * 60_000
/** What the script prints when every node is up and the rollout checked, before the stop section. */
const PAUSE_MARK = '@@operator-guide: paused before the stop section@@'
/** Lines of each node log a failing run prints. */
const LOG_TAIL_LINES = 30

interface Block {
  readonly section: string
  readonly code: string
}

/** Every ```sh block of a Markdown text, with the `## ` heading it is under. */
function shellBlocks(markdown: string): Block[] {
  const blocks: Block[] = []
  let section = ''
  let code: string[] | null = null
  for (const line of markdown.split('\n')) {
    if (code) {
      if (line.startsWith('```')) {
        blocks.push({ section, code: code.join('\n') })
        code = null
      } else code.push(line)
    } else if (line.startsWith('## ')) section = line
    else if (line.trim() === '```sh') code = []
  }
  return blocks
}

/**
 * The guide's documented substitutions: a `*.example` host name is 127.0.0.1, and a node that
 * listens on every interface (`/ip4/0.0.0.0/`) listens on loopback only.
 */
function onOneMachine(code: string): string {
  return code.replace(/\b[a-z0-9-]+\.example\b/g, '127.0.0.1').replaceAll('/ip4/0.0.0.0/', '/ip4/127.0.0.1/')
}

const dirs: string[] = []
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

async function logTails(dir: string): Promise<string> {
  const tails: string[] = []
  for (const entry of await readdir(dir).catch(() => [])) {
    const log = join(dir, entry, 'node.log')
    if (!existsSync(log)) continue
    const lines = (await readFile(log, 'utf8')).trimEnd().split('\n')
    tails.push(
      `--- ${entry}/node.log (last ${LOG_TAIL_LINES} lines)\n${lines.slice(-LOG_TAIL_LINES).join('\n')}`,
    )
  }
  return tails.join('\n')
}

/** The local API of every node in `dir` that has a [device] section, from its own config. */
async function deviceApis(dir: string): Promise<string[]> {
  const apis: string[] = []
  for (const entry of (await readdir(dir)).sort()) {
    const file = join(dir, entry, 'fwmesh.toml')
    if (!existsSync(file)) continue
    const loaded = await loadConfig(file)
    if (!loaded.ok) throw new Error(`${file}: ${loaded.error.message}`)
    if (loaded.value.device) apis.push(`http://${loaded.value.api.host}:${loaded.value.api.port}`)
  }
  return apis
}

describe('docs/operator-guide.md', () => {
  it('reads its sh blocks and substitutes only *.example host names and all-interface listens', () => {
    expect(
      shellBlocks('## 1. a\n```sh\nfwmesh status\n```\n```text\nnot run\n```\n## 2. b\n```sh\nx\n```'),
    ).toEqual([
      { section: '## 1. a', code: 'fwmesh status' },
      { section: '## 2. b', code: 'x' },
    ])
    expect(onOneMachine('/dns4/dev1.example/tcp/1 config example ../examples/hooks')).toBe(
      '/dns4/127.0.0.1/tcp/1 config example ../examples/hooks',
    )
    expect(onOneMachine('listen = ["/ip4/0.0.0.0/tcp/14100"]')).toBe('listen = ["/ip4/127.0.0.1/tcp/14100"]')
  })

  it(
    'run as written on 127.0.0.1, ends with every device running the release it publishes',
    async () => {
      const guide = await readFile(GUIDE, 'utf8')
      expect(guide, 'the guide publishes the version this test checks').toContain(`--version ${RELEASED}`)
      const blocks = shellBlocks(guide)
      const stopAt = blocks.findIndex((b) => /^## 9\. Stop/.test(b.section))
      expect(stopAt, 'the guide ends with "## 9. Stop …", the section that stops every node').toBeGreaterThan(
        0,
      )

      const dir = await mkdtemp(join(tmpdir(), 'fwmesh-guide-'))
      dirs.push(dir)
      const script = [
        'set -euo pipefail',
        // Whatever happens, no node outlives the script (the guide's own stop step ends them first).
        "trap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT",
        ...blocks.slice(0, stopAt).map((b) => onOneMachine(b.code)),
        `echo '${PAUSE_MARK}'`,
        'read -r _',
        ...blocks.slice(stopAt).map((b) => onOneMachine(b.code)),
      ].join('\n')

      const child = spawn('bash', ['-c', script], {
        cwd: dir,
        env: { ...process.env, PATH: `${join(ROOT, 'bin')}:${process.env.PATH}` },
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      })
      let output = ''
      const paused = new Promise<void>((resolve) => {
        const take = (d: Buffer) => {
          output += d.toString()
          if (output.includes(PAUSE_MARK)) resolve()
        }
        child.stdout.on('data', take)
        child.stderr.on('data', take)
      })
      // A hung run: end the script and every node it started (one process group).
      const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), SCRIPT_TIMEOUT_MS)
      const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)))

      let versions: string[] = []
      let apis: string[] = []
      const early = await Promise.race([paused.then(() => null), exited])
      let checkError = ''
      if (early === null) {
        try {
          apis = await deviceApis(dir)
          versions = await Promise.all(
            apis.map(async (api) => {
              const status = await new NodeClient(api).status()
              return String((status.device as { installedVersion?: string } | null)?.installedVersion)
            }),
          )
        } catch (error) {
          checkError = `asking the devices failed: ${(error as Error).message}\n`
        } finally {
          child.stdin.write('\n')
        }
      }
      const code = await exited
      clearTimeout(timer)
      const report = `${checkError}${output}\n${await logTails(dir)}`
      expect(code, report).toBe(0)
      expect(apis, report).toHaveLength(DEVICES)
      expect(versions, report).toEqual(apis.map(() => RELEASED))
    },
    SCRIPT_TIMEOUT_MS + 60_000,
  )
})
