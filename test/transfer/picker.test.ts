import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Prng } from '../../src/prng.js'
import { ChunkPicker, PICK_BUDGET_SPENT, PICK_NONE } from '../../src/transfer/picker.js'

type Op =
  | { op: 'add'; chunk: number }
  | { op: 'remove'; chunk: number }
  | { op: 'inc'; chunk: number }
  | { op: 'dec'; chunk: number }
  | { op: 'scan'; mod: number; seed: number }

const opArb = (chunks: number) =>
  fc.oneof(
    fc.record({ op: fc.constant('add' as const), chunk: fc.nat(chunks - 1) }),
    fc.record({ op: fc.constant('remove' as const), chunk: fc.nat(chunks - 1) }),
    fc.record({ op: fc.constant('inc' as const), chunk: fc.nat(chunks - 1) }),
    fc.record({ op: fc.constant('dec' as const), chunk: fc.nat(chunks - 1) }),
    fc.record({ op: fc.constant('scan' as const), mod: fc.integer({ min: 1, max: 4 }), seed: fc.nat() }),
  )

describe('transfer: picker', () => {
  it('transfer: picker: agrees with a naive model under random adds, removes and availability changes', () => {
    const maxAvail = 5
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 40 })
          .chain((n) => fc.tuple(fc.constant(n), fc.array(opArb(n), { maxLength: 300 }))),
        ([n, ops]) => {
          const picker = new ChunkPicker(n, maxAvail)
          const inPicker = new Set<number>()
          const avail = new Array<number>(n).fill(0)
          for (const o of ops as Op[]) {
            if (o.op === 'add' && !inPicker.has(o.chunk)) {
              picker.add(o.chunk)
              inPicker.add(o.chunk)
            } else if (o.op === 'remove' && inPicker.has(o.chunk)) {
              picker.remove(o.chunk)
              inPicker.delete(o.chunk)
            } else if (o.op === 'inc' && avail[o.chunk]! < maxAvail) {
              picker.increment(o.chunk)
              avail[o.chunk]!++
            } else if (o.op === 'dec' && avail[o.chunk]! > 0) {
              picker.decrement(o.chunk)
              avail[o.chunk]!--
            } else if (o.op === 'scan') {
              const accept = (c: number) => c % o.mod === 0
              const got = picker.scan(Prng.fromSeed(o.seed), accept, Number.MAX_SAFE_INTEGER)
              const candidates = [...inPicker].filter((c) => accept(c) && avail[c]! > 0)
              if (candidates.length === 0) {
                expect(got, 'nothing to pick').toBe(PICK_NONE)
              } else {
                const rarest = Math.min(...candidates.map((c) => avail[c]!))
                expect(candidates, 'the pick is a candidate').toContain(got)
                expect(avail[got], 'the pick is among the rarest').toBe(rarest)
              }
            }
            picker.checkInvariants()
            expect(picker.size).toBe(inPicker.size)
            for (let c = 0; c < n; c++) {
              expect(picker.has(c), `membership of chunk ${c}`).toBe(inPicker.has(c))
              expect(picker.availability(c), `availability of chunk ${c}`).toBe(avail[c])
            }
          }
        },
      ),
      { numRuns: 200 },
    )
  })

  it('transfer: picker: never picks a chunk that no neighbour holds', () => {
    const picker = new ChunkPicker(4, 3)
    for (let c = 0; c < 4; c++) picker.add(c)
    expect(picker.hasRequestable()).toBe(false)
    expect(picker.scan(Prng.fromSeed(1), () => true, 100)).toBe(PICK_NONE)
    picker.increment(2)
    expect(picker.hasRequestable()).toBe(true)
    expect(picker.scan(Prng.fromSeed(1), () => true, 100)).toBe(2)
  })

  it('transfer: picker: breaks ties among equally rare chunks at random, reproducibly per seed', () => {
    const picks = new Set<number>()
    for (let seed = 0; seed < 40; seed++) {
      const picker = new ChunkPicker(16, 3)
      for (let c = 0; c < 16; c++) {
        picker.add(c)
        picker.increment(c)
      }
      const a = picker.scan(Prng.fromSeed(seed), () => true, 100)
      const b = picker.scan(Prng.fromSeed(seed), () => true, 100)
      expect(a, `seed ${seed} picks the same twice`).toBe(b)
      picks.add(a)
    }
    expect(picks.size).toBeGreaterThan(8)
  })

  it('transfer: picker: reports a spent budget instead of scanning on', () => {
    const picker = new ChunkPicker(100, 2)
    for (let c = 0; c < 100; c++) {
      picker.add(c)
      picker.increment(c)
    }
    expect(picker.scan(Prng.fromSeed(3), (c) => c === 99, 10)).toBe(PICK_BUDGET_SPENT)
  })
})
