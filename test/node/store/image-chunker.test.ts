import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CHUNK_BYTES_MIN } from '../../../src/constants.js'
import { chunkImageFile } from '../../../src/node/store/image-chunker.js'
import { Prng } from '../../../src/prng.js'
import {
  DEFAULT_MANIFEST_LIMITS,
  decodeManifest,
  encodeManifest,
  manifestCid,
  manifestOfBytes,
} from '../../../src/transfer/manifest.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fwmesh-chunker-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const CHUNK = CHUNK_BYTES_MIN

describe('transfer: chunker', () => {
  it.each([
    ['a partial last chunk', 5 * CHUNK + 7],
    ['a whole number of chunks', 4 * CHUNK],
    ['a single short chunk', 100],
  ])(
    'transfer: chunker: a file with %s gives the same manifest as the bytes in memory',
    async (_name, size) => {
      const image = Prng.fromSeed(`chunker-${size}`).bytes(size)
      const path = join(dir, 'image.bin')
      await writeFile(path, image)
      const r = await chunkImageFile(path, { chunkSize: CHUNK })
      if (!r.ok) throw new Error(r.error.message)
      expect(r.value.manifest).toEqual(manifestOfBytes(image, CHUNK))
      expect(r.value.encoded).toEqual(encodeManifest(r.value.manifest))
      expect(r.value.cid.equals(manifestCid(r.value.manifest))).toBe(true)
      const decoded = decodeManifest(r.value.encoded, { expectedCid: r.value.cid })
      expect(decoded.ok).toBe(true)
    },
  )

  it('transfer: chunker: uses 256 KiB chunks by default', async () => {
    const path = join(dir, 'image.bin')
    await writeFile(path, new Uint8Array(300 * 1024))
    const r = await chunkImageFile(path)
    expect(r.ok && r.value.manifest.chunkSize).toBe(256 * 1024)
  })

  it('transfer: chunker: refuses an empty file, a missing file, a bad chunk size and too many chunks', async () => {
    const empty = join(dir, 'empty.bin')
    await writeFile(empty, new Uint8Array(0))
    const e = await chunkImageFile(empty)
    expect(e.ok ? undefined : e.error.code).toBe('empty-image')
    const missing = await chunkImageFile(join(dir, 'nope.bin'))
    expect(missing.ok ? undefined : missing.error.code).toBe('io')
    const small = join(dir, 'small.bin')
    await writeFile(small, new Uint8Array(5 * CHUNK))
    const size = await chunkImageFile(small, { chunkSize: CHUNK - 1 })
    expect(size.ok ? undefined : size.error.code).toBe('bad-chunk-size')
    const many = await chunkImageFile(small, {
      chunkSize: CHUNK,
      limits: { ...DEFAULT_MANIFEST_LIMITS, chunksMax: 4 },
    })
    expect(many.ok ? undefined : many.error.code).toBe('too-many-chunks')
    const large = await chunkImageFile(small, {
      chunkSize: CHUNK,
      limits: { ...DEFAULT_MANIFEST_LIMITS, imageBytesMax: 5 * CHUNK - 1 },
    })
    expect(large.ok ? undefined : large.error.code).toBe('too-large')
  })
})
