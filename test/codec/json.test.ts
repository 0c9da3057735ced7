import { describe, expect, it } from 'vitest'
import { cidOf } from '../../src/codec/cid.js'
import { toPlainJson } from '../../src/codec/json.js'

describe('codec: plain JSON for people and scripts', () => {
  it('writes CIDs as their strings (not DAG-JSON links), bytes as hex, big integers as strings, at any depth', () => {
    const cid = cidOf({ a: 1 })
    const value = { id: cid, nested: [{ key: Uint8Array.of(0xab, 0x01), n: 2n ** 70n }], when: new Date(0) }
    expect(JSON.parse(JSON.stringify(toPlainJson(value)))).toEqual({
      id: cid.toString(),
      nested: [{ key: 'ab01', n: (2n ** 70n).toString() }],
      when: '1970-01-01T00:00:00.000Z',
    })
    // What JSON.stringify with a replacer gives: the CID's own toJSON runs first.
    expect(JSON.stringify({ id: cid })).toContain('"/"')
  })
})
