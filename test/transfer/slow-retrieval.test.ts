import { describe, expect, it } from 'vitest'
import { runSwarm, type SimPeer } from './swarm-harness.js'

/**
 * Slow retrieval (the TUF attack): a neighbour that takes requests and never answers them must
 * not hold a download much past what the honest neighbours alone would take. Four holders of a
 * 64-chunk image, each serving a chunk in 250 ms (1 MiB/s at 256 KiB chunks), production
 * scheduler settings: a request stuck at the staller is duplicated to an idle honest holder
 * (end game, stealing), whose copy cancels it. Goal (issue 19): at most 1.5x the time without.
 */
const chunkCount = 64
const all = Array.from({ length: chunkCount }, (_, i) => i)

function holder(id: string, behaviour: 'honest' | 'stall', goodChunks = 0): SimPeer {
  return { id, behaviour, goodChunks, latencyMs: 5, serviceMs: 250, joinAt: 0, have: all, haveUpdates: [] }
}

describe('transfer: slow retrieval', () => {
  for (const goodChunks of [0, 2, 8]) {
    it(`transfer: slow retrieval: one staller among four holders (answering ${goodChunks} chunks first) costs at most 1.5x the time without it`, async () => {
      const honest = ['a', 'b', 'c', 'd'].map((id) => holder(id, 'honest'))
      const withStaller = [...honest.slice(0, 3), holder('staller', 'stall', goodChunks)]
      for (const seed of [1, 2, 3]) {
        const clean = await runSwarm({ chunkCount, seed, peers: honest })
        const attacked = await runSwarm({ chunkCount, seed, peers: withStaller })
        expect(clean.complete && attacked.complete, `seed ${seed}: both complete`).toBe(true)
        expect(
          attacked.timeMs / clean.timeMs,
          `seed ${seed}: ${attacked.timeMs} ms against ${clean.timeMs}`,
        ).toBeLessThanOrEqual(1.5)
      }
    })
  }
})
