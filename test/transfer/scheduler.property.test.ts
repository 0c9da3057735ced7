import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { emptyBitfield, setBit } from '../../src/transfer/bitfield.js'
import { randomSwarm, runSwarm, TEST_SCHEDULER_OPTIONS } from './swarm-harness.js'

/**
 * Property tests of the scheduler against random swarms (test/transfer/swarm-harness.ts): random
 * chunk counts, neighbours with random holdings, latencies, service times, join times, late
 * have-updates and departures, and misbehaving neighbours (bad hashes, truncation, stalls) after
 * a random number of good chunks. The harness records a violation whenever the scheduler asks a
 * neighbour for a chunk it never announced, asks for a held chunk, exceeds a window or the
 * end-game copy bound, or asks a banned or departed neighbour for anything.
 */
const swarmShape = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  chunkCount: fc.integer({ min: 1, max: 150 }),
  honest: fc.integer({ min: 1, max: 6 }),
  leaving: fc.integer({ min: 0, max: 2 }),
  badShare: fc.integer({ min: 0, max: 100 }),
  windowMax: fc.integer({ min: 1, max: 16 }),
  endgame: fc.integer({ min: 1, max: 3 }),
  resumed: fc.boolean(),
})

describe('transfer: scheduler properties', () => {
  it('transfer: scheduler: in random swarms it finishes whenever the honest neighbours together hold every chunk, never asks for a held or unannounced chunk, keeps in-flight requests within bounds and never asks a banned neighbour', async () => {
    await fc.assert(
      fc.asyncProperty(swarmShape, async (shape) => {
        const total = shape.honest + shape.leaving
        // Up to as many misbehaving neighbours as honest-and-leaving ones: up to half the swarm.
        const bad = Math.floor((shape.badShare / 100) * total)
        const peers = randomSwarm({ ...shape, bad })
        let held: Uint8Array | undefined
        if (shape.resumed) {
          held = emptyBitfield(shape.chunkCount)
          for (let c = 0; c < shape.chunkCount; c += 3) setBit(held, c)
        }
        const requestedHeld: number[] = []
        const result = await runSwarm(
          {
            chunkCount: shape.chunkCount,
            peers,
            seed: shape.seed,
            ...(held ? { held } : {}),
            options: {
              ...TEST_SCHEDULER_OPTIONS,
              windowMax: shape.windowMax,
              windowInitial: Math.min(2, shape.windowMax),
              endgameRequestsPerChunkMax: shape.endgame,
            },
            checkInvariants: true,
          },
          {
            requested: (_peer, chunk) => {
              if (held && chunk % 3 === 0) requestedHeld.push(chunk)
            },
          },
        )
        expect(result.violations, 'no promise of the scheduler is broken').toEqual([])
        expect(requestedHeld, 'no chunk held at the start is requested').toEqual([])
        expect(result.complete, `complete after ${result.events} events, t=${result.timeMs}`).toBe(true)
        for (const [peer] of result.bans) {
          expect(peer.startsWith('bad-'), `only misbehaving neighbours are banned (${peer})`).toBe(true)
        }
      }),
      { numRuns: 150, seed: 20251122 },
    )
  })

  it('transfer: scheduler: a swarm with no honest holder of some chunk never completes and never asks for that chunk', async () => {
    const peers = randomSwarm({ chunkCount: 40, honest: 3, bad: 0, seed: 5 }).map((p) => ({
      ...p,
      have: p.have.filter((c) => c !== 17),
      haveUpdates: p.haveUpdates.map((u) => ({ ...u, chunks: u.chunks.filter((c) => c !== 17) })),
    }))
    const asked: number[] = []
    const result = await runSwarm(
      { chunkCount: 40, peers, seed: 5, options: TEST_SCHEDULER_OPTIONS, checkInvariants: true },
      { requested: (_p, c) => c === 17 && asked.push(c) },
    )
    expect(result.violations).toEqual([])
    expect(result.complete).toBe(false)
    expect(result.scheduler.chunksHeld).toBe(39)
    expect(asked).toEqual([])
    expect(result.scheduler.nextTimeout(), 'an idle scheduler arms no timer').toBeUndefined()
  })
})
