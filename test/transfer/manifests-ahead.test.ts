import { describe, expect, it } from 'vitest'
import { ManifestsAhead } from '../../src/transfer/manifests-ahead.js'

const bits = (b: number) => new Uint8Array([b])

describe('transfer: manifests ahead of their download', () => {
  it('transfer: manifests ahead: a have is kept only for a manifest expected here', () => {
    const ahead = new ManifestsAhead()
    ahead.noteHave('m1', 'a', bits(0xff))
    expect(ahead.take('m1'), 'nobody asked for m1').toEqual([])
    ahead.expect('m1')
    ahead.noteHave('m1', 'a', bits(0x0f))
    ahead.noteHave('m1', 'a', bits(0xff))
    ahead.noteHave('m1', 'b', bits(0x01))
    ahead.put('m1', new Uint8Array([1, 2, 3]))
    expect(ahead.manifest('m1')).toEqual(new Uint8Array([1, 2, 3]))
    expect(ahead.take('m1'), "each neighbour's latest have").toEqual([
      ['a', bits(0xff)],
      ['b', bits(0x01)],
    ])
    expect(ahead.manifest('m1'), 'taken: the image is open now').toBeUndefined()
    expect(ahead.take('m1')).toEqual([])
  })

  it('transfer: manifests ahead: bounded in manifests (oldest out first) and in neighbours per manifest', () => {
    const ahead = new ManifestsAhead(2, 2)
    ahead.expect('m1')
    ahead.expect('m2')
    ahead.expect('m3')
    expect(ahead.size).toBe(2)
    ahead.noteHave('m1', 'a', bits(1))
    expect(ahead.take('m1'), 'm1 was the oldest').toEqual([])
    for (const peer of ['a', 'b', 'c']) ahead.noteHave('m3', peer, bits(1))
    ahead.noteHave('m3', 'a', bits(3))
    expect(ahead.take('m3'), 'two neighbours at most; a known one is updated').toEqual([
      ['a', bits(3)],
      ['b', bits(1)],
    ])
  })

  it('transfer: manifests ahead: a failed fetch forgets the manifest and its haves', () => {
    const ahead = new ManifestsAhead()
    ahead.expect('m1')
    ahead.noteHave('m1', 'a', bits(1))
    ahead.forget('m1')
    expect(ahead.take('m1')).toEqual([])
    expect(ahead.size).toBe(0)
  })
})
