import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { HAVE_UPDATE_CHUNKS_MAX, UPLOAD_QUEUE_PER_PEER_MAX } from '../../src/constants.js'
import { Prng } from '../../src/prng.js'
import { emptyBitfield, fullBitfield, setBit } from '../../src/transfer/bitfield.js'
import { type SessionOutput, TransferSession } from '../../src/transfer/session.js'

const CHUNKS = 16

function outputs(s: TransferSession): SessionOutput[] {
  const out: SessionOutput[] = []
  for (let o = s.poll(); o; o = s.poll()) out.push(o)
  return out
}

function bitsOf(chunks: readonly number[], count = CHUNKS): Uint8Array {
  const bits = emptyBitfield(count)
  for (const c of chunks) setBit(bits, c)
  return bits
}

function downloading(connected: string[] = [], held?: Uint8Array): TransferSession {
  const s = new TransferSession({ chunkCount: CHUNKS, ...(held ? { held } : {}) })
  s.startDownload(Prng.fromSeed('session-test'), connected)
  return s
}

const sentTo = (out: SessionOutput[], type: SessionOutput['type']) =>
  out.filter((o) => o.type === type).map((o) => o.peer)

describe('transfer: session', () => {
  it('a download tells every connected neighbour what it holds, once, and one that connects later too', () => {
    const s = downloading(['a', 'b'])
    expect(sentTo(outputs(s), 'have')).toEqual(['a', 'b'])
    s.handlePeerConnected('a')
    s.handlePeerConnected('c')
    expect(sentTo(outputs(s), 'have')).toEqual(['c'])
  })

  it('a node that is not downloading tells nobody when they connect, but answers a have with its own', () => {
    const s = new TransferSession({ chunkCount: CHUNKS, held: fullBitfield(CHUNKS) })
    s.handlePeerConnected('a')
    expect(outputs(s)).toEqual([])
    s.handleHave('a', bitsOf([]), 0)
    const out = outputs(s)
    expect(out).toHaveLength(1)
    expect(out[0]).toMatchObject({ type: 'have', peer: 'a', bitfield: fullBitfield(CHUNKS) })
  })

  it('the first have heard is answered even when ours was sent before (it may have been dropped)', () => {
    const s = downloading(['a'])
    expect(sentTo(outputs(s), 'have')).toEqual(['a'])
    s.handleHave('a', bitsOf([1]), 0)
    const out = outputs(s)
    expect(sentTo(out, 'have')).toEqual(['a'])
    expect(out.filter((o) => o.type === 'request')).toEqual([{ type: 'request', peer: 'a', chunk: 1 }])
    s.handleHave('a', bitsOf([1]), 1)
    expect(sentTo(outputs(s), 'have')).toEqual([])
  })

  it('announces stored chunks only to neighbours that take part, leaving out what each holds unless it holds all', () => {
    const s = downloading(['partial', 'seed', 'bystander'])
    s.handleHave('partial', bitsOf([2]), 0)
    s.handleHave('seed', fullBitfield(CHUNKS), 0)
    outputs(s)
    // 'bystander' never told us its holdings: it hears nothing of ours.
    for (const c of [2, 3]) {
      expect(s.handleChunk('seed', c, 'ok', 1)).toBe('accepted')
      s.chunkStored(c)
    }
    expect(s.hasNews).toBe(true)
    s.announce()
    const updates = outputs(s).filter((o) => o.type === 'have-update')
    expect(updates).toEqual([
      { type: 'have-update', peer: 'partial', chunks: [3] },
      { type: 'have-update', peer: 'seed', chunks: [2, 3] },
    ])
    s.announce()
    expect(outputs(s)).toEqual([])
  })

  it('neighbours holding every chunk hear of new ones at once; those still downloading, in batches', () => {
    const s = downloading(['partial', 'seed'])
    s.handleHave('partial', bitsOf([]), 0)
    s.handleHave('seed', fullBitfield(CHUNKS), 0)
    outputs(s)
    for (const c of [4, 5]) {
      s.handleChunk('seed', c, 'ok', 1)
      s.chunkStored(c)
    }
    const updates = () => outputs(s).filter((o) => o.type === 'have-update')
    s.announce('complete-holders')
    expect(updates()).toEqual([{ type: 'have-update', peer: 'seed', chunks: [4, 5] }])
    expect(s.hasNews, 'the downloading neighbour is still to be told').toBe(true)
    s.handleChunk('seed', 6, 'ok', 2)
    s.chunkStored(6)
    s.announce('all')
    expect(updates()).toEqual([
      { type: 'have-update', peer: 'partial', chunks: [4, 5, 6] },
      { type: 'have-update', peer: 'seed', chunks: [6] },
    ])
    expect(s.hasNews || s.hasNewsForComplete).toBe(false)
  })

  it('a long announcement is cut into have-updates of at most HAVE_UPDATE_CHUNKS_MAX chunks', () => {
    const count = HAVE_UPDATE_CHUNKS_MAX + 5
    const s = new TransferSession({ chunkCount: count })
    s.startDownload(Prng.fromSeed('long'), ['a'])
    s.handleHave('a', emptyBitfield(count), 0)
    outputs(s)
    for (let c = 0; c < count; c++) s.chunkStored(c)
    s.announce()
    const sizes = outputs(s)
      .filter((o) => o.type === 'have-update')
      .map((o) => (o.type === 'have-update' ? o.chunks.length : 0))
    expect(sizes).toEqual([HAVE_UPDATE_CHUNKS_MAX, 5])
  })

  it('a request for a chunk not held is answered not-held; a held one is queued for upload and sent in turn', () => {
    const s = new TransferSession({ chunkCount: CHUNKS, held: bitsOf([0, 1]) })
    expect(s.handleRequest('a', 5, 0)).toBe(false)
    expect(outputs(s)).toEqual([{ type: 'not-found', peer: 'a', chunk: 5, reason: 'not-held' }])
    expect(s.handleRequest('a', 1, 0)).toBe(true)
    expect(s.handleRequest('a', 1, 0)).toBe(false)
    expect(outputs(s)).toEqual([])
    expect(s.takeUpload()).toEqual({ peer: 'a', chunk: 1 })
    expect(s.uploadsSending).toBe(1)
    s.uploadSent('a', 1)
    expect(s.uploadsSending).toBe(0)
  })

  it('requests beyond what one neighbour may queue are answered busy', () => {
    const s = new TransferSession({ chunkCount: CHUNKS * 4, held: fullBitfield(CHUNKS * 4) })
    for (let c = 0; c < UPLOAD_QUEUE_PER_PEER_MAX; c++) expect(s.handleRequest('greedy', c, 0)).toBe(true)
    expect(s.handleRequest('greedy', UPLOAD_QUEUE_PER_PEER_MAX, 0)).toBe(false)
    expect(outputs(s)).toEqual([
      { type: 'not-found', peer: 'greedy', chunk: UPLOAD_QUEUE_PER_PEER_MAX, reason: 'busy' },
    ])
  })

  it('the origin sends a chunk once and answers busy while a neighbour holds it', () => {
    const s = new TransferSession({ chunkCount: CHUNKS, held: fullBitfield(CHUNKS) })
    s.startSeeding(['a', 'b'])
    expect(sentTo(outputs(s), 'have')).toEqual(['a', 'b'])
    s.handleHave('a', bitsOf([]), 0)
    s.handleHave('b', bitsOf([]), 0)
    outputs(s)
    expect(s.handleRequest('a', 7, 0)).toBe(true)
    expect(s.handleRequest('b', 7, 1)).toBe(false)
    expect(outputs(s)).toEqual([{ type: 'not-found', peer: 'b', chunk: 7, reason: 'busy' }])
    expect(s.seedingStats).toMatchObject({ served: 1, refused: 1 })
  })

  it('a neighbour that leaves is forgotten: its queued requests are dropped, and it is told again when it is back', () => {
    const s = downloading(['a'], bitsOf([0]))
    s.handleHave('a', bitsOf([]), 0)
    outputs(s)
    expect(s.handleRequest('a', 0, 0)).toBe(true)
    s.handlePeerLeft('a', 1)
    expect(s.uploadsWaiting).toBe(0)
    expect(s.hasTold('a')).toBe(false)
    s.handlePeerConnected('a')
    expect(sentTo(outputs(s), 'have')).toEqual(['a'])
  })

  it('a chunk from a neighbour that never joined, or outside the image, is ignored', () => {
    const s = downloading(['a'])
    outputs(s)
    expect(s.handleChunk('stranger', 0, 'ok', 0)).toBe('ignored')
    expect(s.handleChunk('a', CHUNKS, 'ok', 0)).toBe('ignored')
    expect(s.chunksHeld).toBe(0)
  })

  it('a resumed download asks only for the chunks it lacks and finishes when they are stored', () => {
    const held = bitsOf(Array.from({ length: CHUNKS - 2 }, (_, i) => i))
    const s = downloading(['seed'], held)
    s.handleHave('seed', fullBitfield(CHUNKS), 0)
    const asked = outputs(s)
      .filter((o) => o.type === 'request')
      .map((o) => (o.type === 'request' ? o.chunk : -1))
      .sort((a, b) => a - b)
    expect(asked).toEqual([CHUNKS - 2, CHUNKS - 1])
    for (const c of asked) {
      expect(s.handleChunk('seed', c, 'ok', 1)).toBe('accepted')
      s.chunkStored(c)
    }
    expect(s.downloadAccepted()).toBe(true)
    expect(s.isComplete()).toBe(true)
  })

  it('a bad chunk is rejected and a neighbour that keeps sending them is banned', () => {
    const s = downloading(['liar'])
    s.handleHave('liar', fullBitfield(CHUNKS), 0)
    outputs(s)
    const outcomes: string[] = []
    const bans: SessionOutput[] = []
    for (let c = 0; c < CHUNKS && bans.length === 0; c++) {
      outcomes.push(s.handleChunk('liar', c, 'bad-hash', c))
      bans.push(...outputs(s).filter((o) => o.type === 'ban'))
    }
    expect(new Set(outcomes)).toEqual(new Set(['rejected']))
    expect(bans).toEqual([{ type: 'ban', peer: 'liar', reason: 'bad-chunks' }])
    expect(s.chunksHeld).toBe(0)
  })
})

describe('transfer: one protocol core', () => {
  it('the node and the fleet simulator drive the transfer session, not its parts on their own', () => {
    // The chunk protocol's decisions were written twice, in the node and in the simulator, and
    // drifted apart; each now holds only I/O around the one core.
    for (const driver of ['src/node/transfer-service.ts', 'simulations/fleet/fleet.ts']) {
      const source = readFileSync(driver, 'utf8')
      expect(source, driver).toMatch(/from '[./]*\/?(src\/)?transfer\/session\.js'/)
      for (const part of ['scheduler', 'upload', 'seed-policy'])
        expect(source, `${driver} imports transfer/${part}.ts`).not.toMatch(
          new RegExp(`from '[./]*(src/)?transfer/${part}\\.js'`),
        )
    }
  })
})
