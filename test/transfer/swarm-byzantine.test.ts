import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bytesEqual } from '../../src/codec/bytes.js'
import { CHUNK_BYTES_MIN } from '../../src/constants.js'
import { FileChunkStore } from '../../src/node/store/file-chunk-store.js'
import { Prng } from '../../src/prng.js'
import { type ChunkVerdict, chunkCount, manifestOfBytes, verifyChunk } from '../../src/transfer/manifest.js'
import { type Behaviour, runSwarm, type SimPeer } from './swarm-harness.js'

/**
 * A download from twelve neighbours of which four (a third) misbehave: one sends chunks that
 * fail their hash, one truncated chunks, one never answers, one answers twice and then stalls.
 * Chunks are real bytes, checked with verifyChunk and written into a real FileChunkStore.
 */
const CHUNK = CHUNK_BYTES_MIN
const image = Prng.fromSeed('byzantine-image').bytes(512 * CHUNK - 999)
const manifest = manifestOfBytes(image, CHUNK)
const N = chunkCount(manifest)
const all = [...Array(N).keys()]

function swarm(seed: number): SimPeer[] {
  const prng = Prng.fromSeed(`byzantine-swarm:${seed}`)
  const peer = (id: string, behaviour: Behaviour, goodChunks = 0): SimPeer => ({
    id,
    behaviour,
    goodChunks,
    latencyMs: 5 + prng.int(25),
    serviceMs: 40 + prng.int(20),
    joinAt: prng.int(50),
    have: all,
    haveUpdates: [],
  })
  const peers = [
    ...Array.from({ length: 8 }, (_, i) => peer(`honest-${i}`, 'honest')),
    peer('bad-corrupt', 'corrupt'),
    peer('bad-truncate', 'truncate', 1),
    peer('bad-stall', 'stall'),
    peer('bad-stall-later', 'stall', 2),
  ]
  return prng.shuffle(peers)
}

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fwmesh-byzantine-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('transfer: swarm with misbehaving neighbours', () => {
  it.each([1, 2, 3, 4])(
    'transfer: swarm: with a third of the neighbours corrupting, truncating or stalling, the image completes from the honest ones, every bad chunk is rejected and the bad neighbours are banned (seed %i)',
    async (seed) => {
      const opened = await FileChunkStore.open({
        imagePath: join(dir, 'image.bin'),
        manifest,
        flushBytes: 16 * CHUNK,
      })
      if (!opened.ok) throw new Error(opened.error.message)
      const store = opened.value
      let lastBytes: Uint8Array = new Uint8Array(0)
      let badDelivered = 0
      const result = await runSwarm(
        {
          chunkCount: N,
          peers: swarm(seed),
          seed,
          options: {
            requestTimeoutInitialMs: 300,
            requestTimeoutMinMs: 100,
            requestTimeoutMaxMs: 2_000,
            queueTargetMs: 200,
          },
          checkInvariants: true,
        },
        {
          deliver(peer, chunk, misbehave): ChunkVerdict {
            const good = image.subarray(chunk * CHUNK, Math.min((chunk + 1) * CHUNK, image.byteLength))
            let bytes: Uint8Array = good
            if (misbehave && peer.behaviour === 'corrupt') {
              bytes = new Uint8Array(good)
              bytes[chunk % bytes.length] = bytes[chunk % bytes.length]! ^ 0x01
            } else if (misbehave && peer.behaviour === 'truncate') {
              bytes = good.subarray(0, good.length >> 1)
            }
            const verdict = verifyChunk(manifest, chunk, bytes)
            if (verdict !== 'ok') badDelivered++
            lastBytes = bytes
            return verdict
          },
          async accepted(chunk) {
            const r = await store.writeChunk(chunk, lastBytes)
            if (!r.ok) throw new Error(`the store refused an accepted chunk: ${r.error.message}`)
          },
        },
      )
      expect(result.violations).toEqual([])
      expect(result.complete, 'the download completes').toBe(true)
      expect(badDelivered, 'bad chunks did arrive').toBeGreaterThan(0)
      expect(result.rejected, 'every bad chunk is rejected').toBe(badDelivered)
      expect(Object.fromEntries(result.bans)).toEqual({
        'bad-corrupt': 'bad-chunks',
        'bad-truncate': 'bad-chunks',
        'bad-stall': 'stalled',
        'bad-stall-later': 'stalled',
      })
      expect(store.isComplete()).toBe(true)
      expect((await store.verifyImage()).ok, 'the image verifies').toBe(true)
      await store.close()
      expect(bytesEqual(await readFile(join(dir, 'image.bin')), image), 'the file is the image').toBe(true)
    },
  )
})
