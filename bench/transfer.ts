/**
 * Transfer benchmark: an image goes through the chunker, the chunk store (verify + write at the
 * offset + group-committed durability, chunks in a shuffled order as from a swarm) and the final
 * whole-image verification, each measured against two baselines taken in the same run: SHA-256
 * of chunk-sized buffers in memory (node:crypto) and a plain sequential write of the same bytes
 * followed by one fdatasync. It also asserts the memory bound: the process's RSS may grow by at
 * most RSS_GROWTH_LIMIT_MB while the image goes through chunker and store (exit code 1 if not).
 *
 * Usage: npm run bench -- transfer [--mib 1024] [--chunk-kib 256] [--rounds 3] [--no-sweep]
 * Prints one JSON object on stdout.
 */
import { randomFillSync } from 'node:crypto'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sha256 } from '../src/codec/hash.js'
import { CHUNK_BYTES_DEFAULT } from '../src/constants.js'
import { FileChunkStore } from '../src/node/store/file-chunk-store.js'
import { chunkImageFile } from '../src/node/store/image-chunker.js'
import { Prng } from '../src/prng.js'
import { fullBitfield } from '../src/transfer/bitfield.js'
import { chunkCount, chunkLength, chunkOffset, type Manifest } from '../src/transfer/manifest.js'
import { SwarmScheduler } from '../src/transfer/scheduler.js'

const MiB = 1024 * 1024
const RSS_GROWTH_LIMIT_MB = 64
/** Chunks written into the store at once, as from several neighbours. */
const STORE_WRITERS = 4

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name)
  if (i < 0) return fallback
  const value = Number(args[i + 1])
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} needs a positive number`)
  return value
}

function mbps(bytes: number, ms: number): number {
  return Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10
}

/** Peak RSS while `work` runs, sampled every few milliseconds and by the work itself. */
class RssWatch {
  private readonly start = process.memoryUsage.rss()
  private peak = this.start
  private readonly timer = setInterval(() => this.sample(), 5)
  sample(): void {
    const rss = process.memoryUsage.rss()
    if (rss > this.peak) this.peak = rss
  }
  stop(): number {
    clearInterval(this.timer)
    this.sample()
    return (this.peak - this.start) / MiB
  }
}

/** Writes `size` bytes of pseudo-random data with one fdatasync at the end: the disk baseline. */
async function writeSource(path: string, size: number, blockSize: number): Promise<number> {
  const block = new Uint8Array(4 * MiB)
  randomFillSync(block)
  const fh = await open(path, 'w')
  const t0 = performance.now()
  try {
    for (let at = 0, i = 0; at < size; at += blockSize, i++) {
      const length = Math.min(blockSize, size - at)
      const from = (i * blockSize) % (block.length - blockSize + 1)
      // Stamp the block index so no two chunks are equal.
      new DataView(block.buffer).setUint32(from, i)
      let done = 0
      while (done < length) {
        done += (await fh.write(block, from + done, length - done, at + done)).bytesWritten
      }
    }
    await fh.datasync()
  } finally {
    await fh.close()
  }
  return performance.now() - t0
}

function sha256Baseline(size: number, blockSize: number): number {
  const block = new Uint8Array(4 * MiB)
  randomFillSync(block)
  const slices = Math.floor(block.length / blockSize)
  const t0 = performance.now()
  for (let at = 0, i = 0; at < size; at += blockSize, i++) {
    const from = (i % slices) * blockSize
    sha256(block.subarray(from, from + Math.min(blockSize, size - at)))
  }
  return performance.now() - t0
}

/** Feeds every chunk of `source` into a fresh store in a shuffled order, STORE_WRITERS at a time. */
async function fillStore(
  store: FileChunkStore,
  sourcePath: string,
  manifest: Manifest,
  watch?: RssWatch,
): Promise<void> {
  const order = Prng.fromSeed('bench-transfer').shuffle([...Array(chunkCount(manifest)).keys()])
  const src = await open(sourcePath, 'r')
  try {
    let next = 0
    const worker = async () => {
      const buffer = new Uint8Array(manifest.chunkSize)
      for (;;) {
        const i = order[next++]
        if (i === undefined) return
        const length = chunkLength(manifest, i)
        const { bytesRead } = await src.read(buffer, 0, length, chunkOffset(manifest, i))
        if (bytesRead !== length) throw new Error(`short read of chunk ${i}`)
        const r = await store.writeChunk(i, buffer.subarray(0, length))
        if (!r.ok) throw new Error(`store refused chunk ${i}: ${r.error.message}`)
        if ((i & 63) === 0) watch?.sample()
      }
    }
    await Promise.all(Array.from({ length: STORE_WRITERS }, worker))
    const flushed = await store.flush()
    if (!flushed.ok) throw new Error(flushed.error.message)
  } finally {
    await src.close()
  }
}

interface PipelineResult {
  chunkMs: number
  storeMs: number
  verifyMs: number
  rssGrowthMB: number
}

async function pipeline(
  dir: string,
  sourcePath: string,
  chunkSize: number,
  tag: string,
): Promise<PipelineResult> {
  const watch = new RssWatch()
  let t0 = performance.now()
  const chunked = await chunkImageFile(sourcePath, { chunkSize })
  if (!chunked.ok) throw new Error(chunked.error.message)
  const chunkMs = performance.now() - t0
  const manifest = chunked.value.manifest
  watch.sample()
  const imagePath = join(dir, `image-${tag}.bin`)
  t0 = performance.now()
  const opened = await FileChunkStore.open({ imagePath, manifest })
  if (!opened.ok) throw new Error(opened.error.message)
  const store = opened.value
  await fillStore(store, sourcePath, manifest, watch)
  const storeMs = performance.now() - t0
  t0 = performance.now()
  const verified = await store.verifyImage()
  if (!verified.ok) throw new Error(`verify: ${verified.error.message}`)
  const verifyMs = performance.now() - t0
  await store.close()
  const rssGrowthMB = watch.stop()
  return { chunkMs, storeMs, verifyMs, rssGrowthMB }
}

/**
 * Scheduler steps per second for the simulator's budget: one download of 16,384 chunks from 32
 * seeds that answer in order, every input followed by draining the outputs.
 */
function schedulerStepsPerSec(): number {
  const chunks = 16_384
  const s = new SwarmScheduler({ chunkCount: chunks, prng: Prng.fromSeed('bench-scheduler') })
  const queue: [string, number][] = []
  let steps = 0
  let now = 0
  const t0 = performance.now()
  for (let p = 0; p < 32; p++) {
    s.handlePeerJoined(`peer-${p}`, fullBitfield(chunks), now)
    steps++
    for (let o = s.poll(); o; o = s.poll()) if (o.type === 'request') queue.push([o.peer, o.chunk])
  }
  for (let head = 0; head < queue.length && !s.isComplete(); head++) {
    const [peer, chunk] = queue[head]!
    now += 1
    s.handleChunk(peer, chunk, 'ok', now)
    steps++
    for (let o = s.poll(); o; o = s.poll()) if (o.type === 'request') queue.push([o.peer, o.chunk])
  }
  if (!s.isComplete()) throw new Error('the scheduler benchmark did not complete')
  return Math.round(steps / ((performance.now() - t0) / 1000))
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export async function main(args: string[]): Promise<void> {
  const size = arg(args, '--mib', 1024) * MiB
  const chunkSize = arg(args, '--chunk-kib', CHUNK_BYTES_DEFAULT / 1024) * 1024
  const rounds = arg(args, '--rounds', 3)
  const sweep = !args.includes('--no-sweep')
  const dir = await mkdtemp(join(tmpdir(), 'fwmesh-bench-transfer-'))
  try {
    const sourcePath = join(dir, 'source.bin')
    // The machine is shared: every figure is the median of `rounds` samples, taken in turn
    // (baselines, then the pipeline) so a slow spell hits both sides alike. Files are deleted
    // only at the end: ext4 mounted with `discard` charges a deleted gigabyte's TRIM to the
    // next fdatasync, which would bill it to whichever phase comes next.
    const sha: number[] = []
    const disk: number[] = []
    const chunkMs: number[] = []
    const storeMs: number[] = []
    const verifyMs: number[] = []
    let rssGrowth = 0
    for (let round = 0; round < rounds; round++) {
      sha.push(sha256Baseline(size, chunkSize))
      disk.push(
        await writeSource(round === 0 ? sourcePath : join(dir, `baseline-${round}.bin`), size, chunkSize),
      )
      const r = await pipeline(dir, sourcePath, chunkSize, `round-${round}`)
      chunkMs.push(r.chunkMs)
      storeMs.push(r.storeMs)
      verifyMs.push(r.verifyMs)
      rssGrowth = Math.max(rssGrowth, r.rssGrowthMB)
    }

    const chunkSizeSweep: {
      chunkKiB: number
      chunkMBps: number
      storeWriteMBps: number
      verifyMBps: number
    }[] = []
    if (sweep) {
      const sweepSize = Math.min(size, 256 * MiB)
      const sweepPath = join(dir, 'sweep.bin')
      await writeSource(sweepPath, sweepSize, chunkSize)
      for (const kib of [64, 256, 1024, 4096]) {
        const r = await pipeline(dir, sweepPath, kib * 1024, `sweep-${kib}`)
        chunkSizeSweep.push({
          chunkKiB: kib,
          chunkMBps: mbps(sweepSize, r.chunkMs),
          storeWriteMBps: mbps(sweepSize, r.storeMs),
          verifyMBps: mbps(sweepSize, r.verifyMs),
        })
      }
    }

    const chunkMBps = mbps(size, median(chunkMs))
    const storeWriteMBps = mbps(size, median(storeMs))
    const verifyMBps = mbps(size, median(verifyMs))
    const baselineSha256MBps = mbps(size, median(sha))
    const baselineDiskWriteMBps = mbps(size, median(disk))
    const slowerBaseline = Math.min(baselineSha256MBps, baselineDiskWriteMBps)
    const goalRatio =
      Math.round((Math.min(chunkMBps, storeWriteMBps, verifyMBps) / slowerBaseline) * 100) / 100
    const rssGrowthMB = Math.round(rssGrowth * 10) / 10
    const result = {
      chunkMBps,
      storeWriteMBps,
      verifyMBps,
      baselineSha256MBps,
      baselineDiskWriteMBps,
      goalRatio,
      goalMet: goalRatio >= 0.7,
      rssGrowthMB,
      rssLimitMB: RSS_GROWTH_LIMIT_MB,
      imageMiB: size / MiB,
      chunkKiB: chunkSize / 1024,
      rounds,
      samplesMBps: {
        chunk: chunkMs.map((ms) => mbps(size, ms)),
        storeWrite: storeMs.map((ms) => mbps(size, ms)),
        verify: verifyMs.map((ms) => mbps(size, ms)),
        sha256: sha.map((ms) => mbps(size, ms)),
        diskWrite: disk.map((ms) => mbps(size, ms)),
      },
      storeWriters: STORE_WRITERS,
      chunkSizeSweep,
      schedulerStepsPerSec: schedulerStepsPerSec(),
      notes: [
        'each figure is the median of `rounds` samples taken in turn; rssGrowthMB is the largest growth seen',
        'chunk = chunkImageFile (read + SHA-256 of every chunk and of the image); the source is in the page cache',
        'storeWrite = open + verify every chunk + write at its offset + fdatasync every STORE_FLUSH_BYTES + held-state slot, shuffled order, 4 writers; includes reading the source chunk',
        'verify = whole-image SHA-256 read back from the store file',
        'baselineDiskWrite = sequential writes of the same size + one fdatasync',
        'goalRatio = slowest of chunk/storeWrite/verify over the slower baseline; goal >= 0.7',
      ],
    }
    process.stdout.write(`${JSON.stringify(result)}\n`)
    if (rssGrowthMB > RSS_GROWTH_LIMIT_MB) {
      process.stderr.write(`RSS grew by ${rssGrowthMB} MB, over the limit of ${RSS_GROWTH_LIMIT_MB} MB\n`)
      process.exitCode = 1
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
