import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHUNK_BYTES_MIN } from '../../src/constants.js'
import { type ExpectedImage, importImage } from '../../src/node/image-import.js'
import { Prng } from '../../src/prng.js'
import { manifestCid, manifestOfBytes } from '../../src/transfer/manifest.js'
import { tempDir } from '../helpers/tmp.js'

/** A stream of `bytes` in pieces of `piece` bytes, as a request body arrives. */
async function* pieces(bytes: Uint8Array, piece: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += piece) yield bytes.subarray(i, i + piece)
}

describe('node: image import (a publish request body)', () => {
  let dir: string
  let cleanup: () => Promise<void>
  const image = Prng.fromSeed('image-import').bytes(5 * CHUNK_BYTES_MIN + 123)
  const manifest = manifestOfBytes(image, CHUNK_BYTES_MIN)
  const expected: ExpectedImage = {
    manifest: manifestCid(manifest),
    imageSize: manifest.imageSize,
    chunkSize: manifest.chunkSize,
    imageSha256: manifest.imageSha256,
  }
  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('image-import'))
  })
  afterAll(async () => {
    await cleanup()
  })

  it('cuts the body into the release chunk size as it arrives, whatever the pieces, and keeps it', async () => {
    for (const piece of [1000, CHUNK_BYTES_MIN, 3 * CHUNK_BYTES_MIN + 7, image.byteLength]) {
      const path = join(dir, `ok-${piece}.img`)
      const r = await importImage(pieces(image, piece), path, expected)
      if (!r.ok) throw new Error(`pieces of ${piece}: ${r.error.message}`)
      expect(r.value.cid.equals(expected.manifest), `pieces of ${piece}`).toBe(true)
      expect(Buffer.compare(await readFile(path), image), `pieces of ${piece}`).toBe(0)
    }
  })

  const faults: Array<[string, Uint8Array, Partial<ExpectedImage>, string]> = [
    ['a body shorter than imageSize', image.subarray(0, image.byteLength - 1), {}, 'truncated'],
    ['a body longer than imageSize', Buffer.concat([image, new Uint8Array(1)]), {}, 'too-large'],
    ['other bytes of the same size', Prng.fromSeed('other').bytes(image.byteLength), {}, 'mismatch'],
    ['the image with another SHA-256 in the release', image, { imageSha256: new Uint8Array(32) }, 'mismatch'],
    ['the image at another chunk size', image, { chunkSize: 2 * CHUNK_BYTES_MIN }, 'mismatch'],
    ['a chunk size no manifest has', image, { chunkSize: 1000 }, 'bad-chunking'],
  ]
  for (const [what, body, change, code] of faults) {
    it(`refuses ${what} (${code}) and keeps nothing`, async () => {
      const path = join(dir, 'fault.img')
      const r = await importImage(pieces(body, 4096), path, { ...expected, ...change })
      expect(r.ok ? 'ok' : r.error.code).toBe(code)
      expect(await readdir(dir)).not.toContain('fault.img')
    })
  }
})
