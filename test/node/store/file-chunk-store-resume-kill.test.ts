import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { bytesEqual, toHex } from '../../../src/codec/bytes.js'
import { sha256 } from '../../../src/codec/hash.js'
import { CHUNK_BYTES_MIN } from '../../../src/constants.js'
import { Prng } from '../../../src/prng.js'
import { getBit } from '../../../src/transfer/bitfield.js'
import { decodeHeldState } from '../../../src/transfer/held-state.js'
import { chunkCount, encodeManifest, manifestCid, manifestOfBytes } from '../../../src/transfer/manifest.js'

/**
 * Resume after a crash: a child process (resume-child.ts) downloads into a FileChunkStore and is
 * killed with SIGKILL after a seeded number of its progress lines, once or twice, then run to
 * the end. After every kill the held-state file on disk is read back: every chunk it marks held
 * must hold the right bytes, and the next run must never ask for one of them again.
 */
const CHILD = fileURLToPath(new URL('./file-chunk-store-resume-child.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1)
const PARALLEL = 4

interface ChildRun {
  readonly lines: string[]
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stderr: string
}

function runChild(dir: string, seed: number, run: number, killAfterLines?: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(seed), String(run)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const lines: string[] = []
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line)
      if (lines.length === killAfterLines) child.kill('SIGKILL')
    })
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ lines, code, signal, stderr }))
  })
}

async function heldOnDisk(dir: string, cid: Uint8Array, n: number): Promise<Set<number>> {
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(await readFile(join(dir, 'image.bin.held')))
  } catch {
    return new Set()
  }
  const decoded = decodeHeldState(bytes, cid, n)
  if (!decoded.ok) throw new Error(`held-state file unreadable after a kill: ${decoded.error.message}`)
  return new Set([...Array(n).keys()].filter((i) => getBit(decoded.value.bitfield, i)))
}

const requested = (run: ChildRun) =>
  run.lines.filter((l) => l.startsWith('req ')).map((l) => Number(l.slice(4)))

async function resumeScenario(seed: number): Promise<{ kills: number; heldAtKill: number[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'fwmesh-resume-'))
  try {
    const prng = Prng.fromSeed(`resume-kill:${seed}`)
    const source = prng.bytes(128 * CHUNK_BYTES_MIN - prng.int(CHUNK_BYTES_MIN))
    const manifest = manifestOfBytes(source, CHUNK_BYTES_MIN)
    const n = chunkCount(manifest)
    const cid = manifestCid(manifest).bytes
    await writeFile(join(dir, 'source.bin'), source)
    await writeFile(join(dir, 'manifest.cbor'), encodeManifest(manifest))
    let marked = new Set<number>()
    const heldAtKill: number[] = []
    const kills = 1 + prng.int(2)
    for (let run = 0; run <= kills; run++) {
      const killAt = run < kills ? 1 + prng.int(170) : undefined
      const result = await runChild(dir, seed, run, killAt)
      const again = requested(result).filter((c) => marked.has(c))
      expect(again, `seed ${seed} run ${run}: chunks marked held are not requested again`).toEqual([])
      const start = result.lines.find((l) => l.startsWith('start '))
      if (start && marked.size > 0) {
        expect(start, `seed ${seed} run ${run}: resumes from the held-state file`).toBe(
          `start state ${marked.size}`,
        )
      }
      if (killAt === undefined || result.signal !== 'SIGKILL') {
        expect(result.code, `seed ${seed} run ${run} exits cleanly: ${result.stderr}`).toBe(0)
        expect(result.lines.at(-1)).toBe(`done ${toHex(sha256(source))}`)
        const image = new Uint8Array(await readFile(join(dir, 'image.bin')))
        expect(bytesEqual(image, source), `seed ${seed}: the image is the source`).toBe(true)
        return { kills: heldAtKill.length, heldAtKill }
      }
      const now = await heldOnDisk(dir, cid, n)
      for (const c of marked) expect(now.has(c), `seed ${seed} run ${run}: chunk ${c} stays held`).toBe(true)
      const image = new Uint8Array(await readFile(join(dir, 'image.bin')))
      for (const c of now) {
        const at = c * manifest.chunkSize
        const ok = bytesEqual(
          image.subarray(at, at + manifest.chunkSize),
          source.subarray(at, at + manifest.chunkSize),
        )
        expect(ok, `seed ${seed} run ${run}: held chunk ${c} has its bytes on disk`).toBe(true)
      }
      heldAtKill.push(now.size)
      marked = now
    }
    throw new Error(`seed ${seed}: the last run did not finish`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

describe('transfer: resume after SIGKILL', () => {
  it(`transfer: resume: a download killed with SIGKILL at random points (${SEEDS.length} seeds) completes after a restart, verifies, and never requests a chunk that was marked held`, async () => {
    const outcomes: { kills: number; heldAtKill: number[] }[] = []
    for (let i = 0; i < SEEDS.length; i += PARALLEL) {
      outcomes.push(...(await Promise.all(SEEDS.slice(i, i + PARALLEL).map(resumeScenario))))
    }
    const kills = outcomes.reduce((sum, o) => sum + o.kills, 0)
    const midway = outcomes.flatMap((o) => o.heldAtKill).filter((h) => h > 0 && h < 128)
    expect(kills, 'most runs were really killed').toBeGreaterThanOrEqual(SEEDS.length)
    expect(midway.length, 'many kills landed mid-download, with some chunks held').toBeGreaterThanOrEqual(5)
  }, 120_000)
})
