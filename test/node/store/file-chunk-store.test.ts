import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bytesEqual } from '../../../src/codec/bytes.js'
import { CHUNK_BYTES_MIN } from '../../../src/constants.js'
import { FileChunkStore } from '../../../src/node/store/file-chunk-store.js'
import { Prng } from '../../../src/prng.js'
import { getBit } from '../../../src/transfer/bitfield.js'
import { encodeHeldState } from '../../../src/transfer/held-state.js'
import { chunkCount, type Manifest, manifestCid, manifestOfBytes } from '../../../src/transfer/manifest.js'

const CHUNK = CHUNK_BYTES_MIN
const image = Prng.fromSeed('chunk-store-test').bytes(8 * CHUNK + 123)
const manifest = manifestOfBytes(image, CHUNK)
const N = chunkCount(manifest)
const chunk = (i: number) => image.subarray(i * CHUNK, Math.min((i + 1) * CHUNK, image.byteLength))

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fwmesh-store-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function openStore(options: { flushBytes?: number; m?: Manifest; verifyOnRead?: boolean } = {}) {
  const r = await FileChunkStore.open({
    imagePath: join(dir, 'image.bin'),
    manifest: options.m ?? manifest,
    flushBytes: options.flushBytes ?? 1 << 30,
    ...(options.verifyOnRead === undefined ? {} : { verifyOnRead: options.verifyOnRead }),
  })
  if (!r.ok) throw new Error(r.error.message)
  return r.value
}

describe('transfer: chunk store', () => {
  it('transfer: chunk store: preallocates the image file at its final size', async () => {
    const store = await openStore()
    expect(store.resumedFrom).toBe('new')
    expect((await stat(join(dir, 'image.bin'))).size).toBe(image.byteLength)
    expect(store.chunksHeld).toBe(0)
    await store.close()
  })

  it('transfer: chunk store: writes only chunks that verify, at their offset', async () => {
    const store = await openStore()
    const bad = new Uint8Array(chunk(2))
    bad[0] = bad[0]! ^ 0xff
    const rejected = await store.writeChunk(2, bad)
    expect(rejected.ok ? undefined : rejected.error.code).toBe('bad-hash')
    const short = await store.writeChunk(2, chunk(2).subarray(1))
    expect(short.ok ? undefined : short.error.code).toBe('truncated')
    const range = await store.writeChunk(N, chunk(0))
    expect(range.ok ? undefined : range.error.code).toBe('out-of-range')
    const good = await store.writeChunk(2, chunk(2))
    expect(good.ok && good.value.written).toBe(true)
    await store.close()
    const onDisk = await readFile(join(dir, 'image.bin'))
    expect(bytesEqual(onDisk.subarray(2 * CHUNK, 3 * CHUNK), chunk(2))).toBe(true)
    expect(
      onDisk.subarray(0, CHUNK).every((b) => b === 0),
      'chunk 0 was never written',
    ).toBe(true)
  })

  it('transfer: chunk store: a chunk becomes held only once flushed to disk, and the flush reports it', async () => {
    const store = await openStore({ flushBytes: 3 * CHUNK })
    const a = await store.writeChunk(0, chunk(0))
    expect(a.ok && a.value.held).toEqual([])
    expect(store.has(0), 'written but not yet durable').toBe(false)
    await store.writeChunk(5, chunk(5))
    // The third chunk reaches the flush threshold: a flush starts in the background.
    await store.writeChunk(3, chunk(3))
    await store.writeChunk(1, chunk(1))
    const flushed = await store.flush()
    expect(flushed.ok && flushed.value).toEqual([0, 1, 3, 5])
    expect([0, 1, 3, 5].every((i) => store.has(i))).toBe(true)
    const again = await store.writeChunk(1, chunk(1))
    expect(again.ok && again.value.written, 'a held chunk is not written twice').toBe(false)
    expect((await store.flush()).ok && store.chunksHeld).toBe(4)
    await store.close()
  })

  it('transfer: chunk store: a write waits when twice the flush threshold is not yet durable', async () => {
    const store = await openStore({ flushBytes: CHUNK })
    await store.writeChunk(0, chunk(0))
    const second = await store.writeChunk(1, chunk(1))
    expect(second.ok && second.value.held, 'the second write waited for both to be held').toEqual([0, 1])
    await store.close()
  })

  it('transfer: chunk store: resumes from its held-state file after a restart', async () => {
    const first = await openStore()
    for (const i of [0, 4, 8]) await first.writeChunk(i, chunk(i))
    await first.flush()
    await first.writeChunk(6, chunk(6))
    // Closing without a flush: chunk 6 was written but never recorded held.
    await first.close({ flush: false })
    const second = await openStore()
    expect(second.resumedFrom).toBe('state')
    expect([...Array(N).keys()].filter((i) => second.has(i))).toEqual([0, 4, 8])
    expect(getBit(second.heldBitfield(), 4)).toBe(true)
    await second.close()
  })

  it('transfer: chunk store: completes, flushes on the last chunk and verifies the whole image', async () => {
    const store = await openStore()
    const order = Prng.fromSeed(2).shuffle([...Array(N).keys()])
    let heldReported: readonly number[] = []
    for (const i of order) {
      const r = await store.writeChunk(i, chunk(i))
      if (r.ok && r.value.held.length > 0) heldReported = r.value.held
    }
    expect(store.isComplete()).toBe(true)
    expect(heldReported.length, 'the last write flushed everything').toBe(N)
    expect((await store.verifyImage()).ok).toBe(true)
    await store.close()
    expect(bytesEqual(await readFile(join(dir, 'image.bin')), image), 'the file is the image').toBe(true)
  })

  it('transfer: chunk store: refuses to verify an incomplete image', async () => {
    const store = await openStore()
    const r = await store.verifyImage()
    expect(r.ok ? undefined : r.error.code).toBe('incomplete')
    await store.close()
  })

  it('transfer: chunk store: serves a written chunk by reading it at its offset, before and after the flush, and nothing else', async () => {
    const store = await openStore()
    const unwritten = await store.readChunk(8)
    expect(unwritten.ok ? undefined : unwritten.error.code, 'not served before it is written').toBe(
      'not-held',
    )
    await store.writeChunk(8, chunk(8))
    const early = await store.readChunk(8)
    expect(early.ok && bytesEqual(early.value, chunk(8)), 'served once written, before it is durable').toBe(
      true,
    )
    await store.flush()
    const read = await store.readChunk(8)
    expect(read.ok && bytesEqual(read.value, chunk(8))).toBe(true)
    const range = await store.readChunk(-1)
    expect(range.ok ? undefined : range.error.code).toBe('out-of-range')
    await store.close()
  })

  it('transfer: chunk store: a chunk that rotted on disk while the node was down is not served and stops being held', async () => {
    const store = await openStore()
    await store.writeChunk(1, chunk(1))
    await store.flush()
    await store.close()
    const fh = await open(join(dir, 'image.bin'), 'r+')
    await fh.write(new Uint8Array([0xaa]), 0, 1, CHUNK + 10)
    await fh.close()
    const resumed = await openStore()
    expect(resumed.has(1), 'held per the held-state file').toBe(true)
    const r = await resumed.readChunk(1)
    expect(r.ok ? undefined : r.error.code).toBe('corrupt')
    expect(resumed.has(1)).toBe(false)
    await resumed.close()
    const reopened = await openStore()
    expect(reopened.has(1), 'the drop was recorded').toBe(false)
    await reopened.close()
  })

  it('transfer: chunk store: a resumed chunk is hashed on its first read only; chunks written in this run are trusted', async () => {
    const store = await openStore()
    await store.writeChunk(1, chunk(1))
    await store.flush()
    await store.close()
    const resumed = await openStore()
    expect((await resumed.readChunk(1)).ok, 'verified on its first read').toBe(true)
    await resumed.writeChunk(2, chunk(2))
    // Rot now goes unseen by this run (the neighbour that fetches it checks every chunk).
    const fh = await open(join(dir, 'image.bin'), 'r+')
    await fh.write(new Uint8Array([0xaa]), 0, 1, CHUNK + 10)
    await fh.write(new Uint8Array([0xaa]), 0, 1, 2 * CHUNK + 10)
    await fh.close()
    const again = await resumed.readChunk(1)
    const fresh = await resumed.readChunk(2)
    expect(again.ok && again.value[10], 'trusted after its check').toBe(0xaa)
    expect(fresh.ok && fresh.value[10], 'trusted since it was verified on arrival').toBe(0xaa)
    await resumed.close()
  })

  it('transfer: chunk store: a complete image that fails its hash names the bad chunks and drops them', async () => {
    const store = await openStore()
    for (let i = 0; i < N; i++) await store.writeChunk(i, chunk(i))
    const fh = await open(join(dir, 'image.bin'), 'r+')
    await fh.write(new Uint8Array([0x55]), 0, 1, 3 * CHUNK)
    await fh.close()
    const r = await store.verifyImage()
    expect(r.ok ? undefined : r.error.code).toBe('image-hash-mismatch')
    expect(!r.ok && r.error.code === 'image-hash-mismatch' && r.error.badChunks).toEqual([3])
    expect(store.has(3)).toBe(false)
    expect(store.chunksHeld).toBe(N - 1)
    await store.close()
  })

  it('transfer: chunk store: a manifest whose chunk hashes disagree with its image hash is reported as such', async () => {
    const lying: Manifest = { ...manifest, imageSha256: new Uint8Array(32) }
    const store = await openStore({ m: lying })
    for (let i = 0; i < N; i++) await store.writeChunk(i, chunk(i))
    const r = await store.verifyImage()
    expect(r.ok ? undefined : r.error.code).toBe('manifest-inconsistent')
    await store.close()
  })

  it('transfer: chunk store: without a valid held-state file it re-verifies what the image file holds', async () => {
    const first = await openStore()
    for (const i of [2, 3]) await first.writeChunk(i, chunk(i))
    await first.close()
    await writeFile(join(dir, 'image.bin.held'), new Uint8Array([1, 2, 3]))
    const second = await openStore()
    expect(second.resumedFrom).toBe('rescan')
    expect([...Array(N).keys()].filter((i) => second.has(i))).toEqual([2, 3])
    await second.close()
  })

  it('transfer: chunk store: a new store lost before its first flush reopens holding nothing it cannot prove', async () => {
    // A new store makes nothing durable until its first flush: a crash may leave no state file,
    // an empty one, or an image file without its size. Each reopens as a store, never fails.
    const cases: Array<[string, () => Promise<void>, number[]]> = [
      ['no state file', () => rm(join(dir, 'image.bin.held')), [1]],
      ['an empty state file', () => writeFile(join(dir, 'image.bin.held'), new Uint8Array()), [1]],
      ['nothing at all', () => rm(join(dir, 'image.bin')).then(() => rm(join(dir, 'image.bin.held'))), []],
    ]
    for (const [what, lose, held] of cases) {
      const first = await openStore()
      await first.writeChunk(1, chunk(1))
      await first.close({ flush: false })
      await lose()
      const second = await openStore()
      expect(
        [...Array(N).keys()].filter((i) => second.has(i)),
        what,
      ).toEqual(held)
      await second.close({ flush: false })
      await rm(join(dir, 'image.bin'), { force: true })
      await rm(join(dir, 'image.bin.held'), { force: true })
    }
  })

  it('transfer: chunk store: a held-state file of another manifest is not trusted', async () => {
    const first = await openStore()
    await first.writeChunk(0, chunk(0))
    await first.close()
    const other = manifestOfBytes(image.subarray(1), CHUNK)
    const forged = encodeHeldState(
      manifestCid(other).bytes,
      N,
      new Uint8Array(Math.ceil(N / 8)).fill(0xff, 0, 1),
    )
    await writeFile(join(dir, 'image.bin.held'), forged)
    const second = await openStore()
    expect(second.resumedFrom).toBe('rescan')
    expect([...Array(N).keys()].filter((i) => second.has(i))).toEqual([0])
    await second.close()
  })

  it('transfer: chunk store: a torn write of the newest held-state slot resumes from the previous one', async () => {
    const first = await openStore()
    await first.writeChunk(0, chunk(0))
    await first.flush()
    await first.writeChunk(1, chunk(1))
    await first.flush()
    await first.close()
    // Two flushes after creation: generation 2 sits in slot 0, generation 1 (chunk 0 only) in slot 1.
    const statePath = join(dir, 'image.bin.held')
    const state = await readFile(statePath)
    state.fill(0, 20, 40)
    await writeFile(statePath, state)
    const second = await openStore()
    expect(second.resumedFrom).toBe('state')
    expect([...Array(N).keys()].filter((i) => second.has(i))).toEqual([0])
    await second.close()
  })

  it('transfer: chunk store: opened on a publisher’s own image it holds every chunk (a seed)', async () => {
    await writeFile(join(dir, 'image.bin'), image)
    const store = await openStore()
    expect(store.resumedFrom).toBe('rescan')
    expect(store.isComplete()).toBe(true)
    expect((await store.verifyImage()).ok).toBe(true)
    await store.close()
  })
})

describe('transfer: chunk store: serving before durability', () => {
  it('transfer: chunk store: a written chunk can be served before a flush makes it held, and a chunk never written cannot', async () => {
    const store = await openStore()
    const written = await store.writeChunk(3, chunk(3))
    expect(written.ok && written.value.written).toBe(true)
    expect(store.has(3), 'not held before a flush').toBe(false)
    expect(store.canServe(3)).toBe(true)
    const read = await store.readChunk(3)
    expect(read.ok && bytesEqual(read.value, chunk(3))).toBe(true)
    expect(store.canServe(4)).toBe(false)
    const missing = await store.readChunk(4)
    expect(missing.ok ? 'served' : missing.error.code).toBe('not-held')
    await store.close()
  })
})
