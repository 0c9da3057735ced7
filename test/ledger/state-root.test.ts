import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/codec/bytes.js'
import { decodeCbor, encodeCbor } from '../../src/codec/cbor.js'
import { makeDevChain } from '../../src/ledger/dev-chain.js'
import { recordBytes } from '../../src/ledger/record-bytes.js'
import { LedgerState, TABLE_NAMES } from '../../src/ledger/state.js'

const genesis = makeDevChain({ seed: 'state-root' }).genesis

/** Table writes as a test drives them: [table index, key, value or null for a deletion]. */
const write = fc.tuple(
  fc.nat(TABLE_NAMES.length - 1),
  fc.stringMatching(/^[a-f0-9/]{1,6}$/),
  fc.option(
    fc.oneof(
      fc.integer({ min: 0, max: 1e9 }),
      fc.record({ v: fc.string({ maxLength: 8 }), n: fc.nat(), b: fc.uint8Array({ maxLength: 4 }) }),
    ),
    { nil: null },
  ),
)

/** A base state with the writes applied directly (what a store loads from disk). */
function fresh(writes: ReadonlyArray<readonly [number, string, unknown]>): LedgerState {
  const state = new LedgerState(genesis)
  const tables = state.tables()
  for (const [t, key, value] of writes) {
    if (value === null) tables[t]!.delete(key)
    else tables[t]!.set(key, value)
  }
  return state
}

describe('ledger: state root', () => {
  it('after blocks merged one by one equals the root of the same records built from scratch (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(write, { maxLength: 12 }), { maxLength: 8 }), (blocks) => {
        const state = new LedgerState(genesis)
        state.stateRoot() // the digest exists from here on, and is kept up to date by merges
        const all: Array<readonly [number, string, unknown]> = []
        for (const writes of blocks) {
          const draft = state.derive()
          const tables = draft.tables()
          for (const [t, key, value] of writes) {
            if (value === null) tables[t]!.delete(key)
            else tables[t]!.set(key, value)
            all.push([t, key, value])
          }
          const previewed = toHex(draft.stateRoot())
          draft.mergeIntoParent()
          expect(toHex(state.stateRoot()), 'the merged root is the previewed one').toBe(previewed)
        }
        expect(toHex(state.stateRoot())).toBe(toHex(fresh(all).stateRoot()))
      }),
      { seed: 19, numRuns: 200 },
    )
  })

  it('does not depend on the order records were written in, and changes with any one record', () => {
    const writes: Array<[number, string, unknown]> = [
      [0, 'a', { role: 'x', n: 1 }],
      [1, 'b', 2],
      [5, 'c', 3],
      [1, 'd', { z: 1, a: [1, 2] }],
    ]
    const root = toHex(fresh(writes).stateRoot())
    expect(toHex(fresh([...writes].reverse()).stateRoot())).toBe(root)
    expect(toHex(fresh([...writes, [5, 'c', 4]]).stateRoot())).not.toBe(root)
    expect(toHex(fresh([...writes, [5, 'c', null]]).stateRoot())).not.toBe(root)
    expect(toHex(fresh([...writes, [2, 'c', 3]]).stateRoot()), 'same key, another table').not.toBe(root)
    expect(toHex(fresh([]).stateRoot())).toBe(toHex(new LedgerState(genesis).stateRoot()))
  })

  it('hashes a record read back from its DAG-CBOR encoding like the one in memory', () => {
    const record = {
      publicKey: new Uint8Array(32).fill(3),
      product: 'gw',
      groups: ['eu', 'ü'],
      installed: { release: 'bafy', version: '1.0.0', height: 5 },
      revoked: null,
      ratio: 1.5,
    }
    const decoded = decodeCbor(encodeCbor(record), 1 << 16)
    expect(decoded.ok).toBe(true)
    if (!decoded.ok) return
    expect(toHex(recordBytes(0, 'devices/k', decoded.value))).toBe(toHex(recordBytes(0, 'devices/k', record)))
  })

  it('encodes distinct values distinctly, even where a naive concatenation would not', () => {
    const pairs: Array<[unknown, unknown]> = [
      [
        ['ab', 'c'],
        ['a', 'bc'],
      ],
      [{ a: 'b' }, { ab: '' }],
      ['1', 1],
      [new Uint8Array([0x61]), 'a'],
      [null, false],
      [[], {}],
      [
        { a: undefined, b: 1 },
        { b: 1, a: null },
      ],
    ]
    for (const [a, b] of pairs) {
      expect(toHex(recordBytes(0, 'k', a)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).not.toBe(
        toHex(recordBytes(0, 'k', b)),
      )
    }
    expect(toHex(recordBytes(0, 'k', { a: undefined, b: 1 })), 'an undefined field is absent').toBe(
      toHex(recordBytes(0, 'k', { b: 1 })),
    )
  })

  it('a copy keeps its own digest: changing one leaves the other at its root', () => {
    const state = fresh([[1, 'a', 1]])
    const before = toHex(state.stateRoot())
    const copy = state.copy()
    const draft = copy.derive()
    draft.devices.set('b', 2 as never)
    draft.mergeIntoParent()
    expect(toHex(state.stateRoot())).toBe(before)
    expect(toHex(copy.stateRoot())).toBe(
      toHex(
        fresh([
          [1, 'a', 1],
          [1, 'b', 2],
        ]).stateRoot(),
      ),
    )
  })
})
