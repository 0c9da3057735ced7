/**
 * Child process of resume-kill.test.ts: downloads `source.bin` of a work directory into a
 * FileChunkStore at `image.bin`, from simulated neighbours (three honest, one corrupting) driven
 * by the swarm harness, resuming whatever an earlier, killed run left. It reports on stdout, one
 * line each (pipes are synchronous on Linux, so a line is out before the next step starts):
 *   boot                      before the store opens
 *   start <resumedFrom> <n>   the store is open with n chunks held
 *   req <chunk>               the scheduler asked for a chunk
 *   held <c,c,...>            these chunks just became held (durable and recorded)
 *   done <sha256 hex>         the image is complete and verified
 * Usage: node --import tsx resume-child.ts <dir> <seed> <run>
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { toHex } from '../../../src/codec/bytes.js'
import { CHUNK_BYTES_MIN } from '../../../src/constants.js'
import { FileChunkStore } from '../../../src/node/store/file-chunk-store.js'
import { type ChunkVerdict, chunkCount, decodeManifest, verifyChunk } from '../../../src/transfer/manifest.js'
import { runSwarm, type SimPeer } from '../../transfer/swarm-harness.js'

const [dir, seedText, runText] = process.argv.slice(2)
if (dir === undefined || seedText === undefined || runText === undefined) {
  process.stderr.write('usage: resume-child.ts <dir> <seed> <run>\n')
  process.exit(2)
}
const say = (line: string) => process.stdout.write(`${line}\n`)

say('boot')
const source = new Uint8Array(await readFile(join(dir, 'source.bin')))
const decoded = decodeManifest(new Uint8Array(await readFile(join(dir, 'manifest.cbor'))))
if (!decoded.ok) throw new Error(decoded.error.message)
const manifest = decoded.value
const n = chunkCount(manifest)
const opened = await FileChunkStore.open({
  imagePath: join(dir, 'image.bin'),
  manifest,
  flushBytes: 4 * CHUNK_BYTES_MIN,
})
if (!opened.ok) throw new Error(opened.error.message)
const store = opened.value
say(`start ${store.resumedFrom} ${store.chunksHeld}`)

const all = [...Array(n).keys()]
const peer = (id: string, behaviour: SimPeer['behaviour'], serviceMs: number): SimPeer => ({
  id,
  behaviour,
  goodChunks: 1,
  latencyMs: 3,
  serviceMs,
  joinAt: 0,
  have: all,
  haveUpdates: [],
})
let lastBytes: Uint8Array = new Uint8Array(0)
const result = await runSwarm(
  {
    chunkCount: n,
    peers: [
      peer('a', 'honest', 4),
      peer('b', 'honest', 6),
      peer('c', 'honest', 9),
      peer('evil', 'corrupt', 2),
    ],
    seed: Number(seedText) * 100 + Number(runText),
    held: store.heldBitfield(),
  },
  {
    requested: (_peer, chunk) => say(`req ${chunk}`),
    deliver(p, chunk, misbehave): ChunkVerdict {
      const good = source.subarray(
        chunk * manifest.chunkSize,
        Math.min((chunk + 1) * manifest.chunkSize, source.length),
      )
      lastBytes = misbehave ? new Uint8Array(good).fill(p.id.length) : good
      return verifyChunk(manifest, chunk, lastBytes)
    },
    async accepted(chunk) {
      const r = await store.writeChunk(chunk, lastBytes)
      if (!r.ok) throw new Error(`write of chunk ${chunk}: ${r.error.message}`)
      if (r.value.held.length > 0) say(`held ${r.value.held.join(',')}`)
    },
  },
)
if (!result.complete || result.violations.length > 0) {
  throw new Error(`download incomplete: ${result.violations.join('; ')}`)
}
const flushed = await store.flush()
if (!flushed.ok) throw new Error(flushed.error.message)
if (flushed.value.length > 0) say(`held ${flushed.value.join(',')}`)
const verified = await store.verifyImage()
if (!verified.ok) throw new Error(`verify: ${verified.error.message}`)
await store.close()
say(`done ${toHex(manifest.imageSha256)}`)
