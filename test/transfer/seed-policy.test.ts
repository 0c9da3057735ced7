import { describe, expect, it } from 'vitest'
import { emptyBitfield, setBit } from '../../src/transfer/bitfield.js'
import { SeedPolicy } from '../../src/transfer/seed-policy.js'

describe('transfer: seed policy (the origin super-seeds)', () => {
  it('transfer: seed policy: sends a chunk once, then refuses it while the neighbour it went to is connected', () => {
    const policy = new SeedPolicy(8)
    expect(policy.decide('a', 3)).toBe('serve')
    expect(policy.decide('b', 3)).toBe('refuse')
    expect(policy.decide('c', 3)).toBe('refuse')
    expect(policy.copiesSent(3)).toBe(1)
    expect(policy.holdersOf(3)).toBe(1)
  })

  it('transfer: seed policy: serves every chunk nobody has yet, to whoever asks first', () => {
    const policy = new SeedPolicy(8)
    const decisions = [0, 1, 2, 3].map((chunk, i) => policy.decide(`peer-${i}`, chunk))
    expect(decisions).toEqual(['serve', 'serve', 'serve', 'serve'])
  })

  it('transfer: seed policy: serves a chunk again once every neighbour holding it has left', () => {
    const policy = new SeedPolicy(8)
    expect(policy.decide('a', 5)).toBe('serve')
    expect(policy.decide('b', 5)).toBe('refuse')
    policy.handlePeerLeft('a')
    expect(policy.holdersOf(5)).toBe(0)
    expect(policy.decide('b', 5)).toBe('serve')
    expect(policy.copiesSent(5)).toBe(2)
  })

  it('transfer: seed policy: counts chunks neighbours announced (have bitfields and have-updates) as out', () => {
    const policy = new SeedPolicy(16)
    expect(policy.decide('a', 9)).toBe('serve')
    const bits = emptyBitfield(16)
    setBit(bits, 9)
    policy.handlePeerBitfield('holder', bits)
    policy.handlePeerHave('other-holder', [9, 10])
    policy.handlePeerLeft('a')
    expect(policy.holdersOf(9)).toBe(2)
    expect(policy.decide('b', 9)).toBe('refuse')
    policy.handlePeerLeft('holder')
    expect(policy.decide('b', 9)).toBe('refuse')
    policy.handlePeerLeft('other-holder')
    expect(policy.decide('b', 9)).toBe('serve')
  })

  it('transfer: seed policy: a neighbour refused the same chunk three times is served on its fourth request', () => {
    const policy = new SeedPolicy(4)
    expect(policy.decide('holder', 0)).toBe('serve')
    const answers = [1, 2, 3, 4].map(() => policy.decide('starving', 0))
    expect(answers).toEqual(['refuse', 'refuse', 'refuse', 'serve'])
    // Served, its count starts over: asking again is refused like a first time.
    expect(policy.decide('starving', 0)).toBe('refuse')
    expect(policy.stats).toEqual({ served: 2, refused: 4, neighbours: 2 })
  })

  it('transfer: seed policy: refusals of different chunks do not add up to the backstop', () => {
    const policy = new SeedPolicy(8)
    for (let chunk = 0; chunk < 8; chunk++) expect(policy.decide('holder', chunk)).toBe('serve')
    const answers = [0, 1, 2, 3, 4, 5, 6, 7].map((chunk) => policy.decide('asker', chunk))
    expect(answers.every((a) => a === 'refuse')).toBe(true)
  })

  it('transfer: seed policy: ignores out-of-range announcements and bitfield spare bits', () => {
    const policy = new SeedPolicy(3)
    policy.handlePeerHave('a', [3, -1, 1.5, 2])
    policy.handlePeerBitfield('b', Uint8Array.of(0xff, 0xff))
    expect([0, 1, 2].map((c) => policy.holdersOf(c))).toEqual([1, 1, 2])
  })

  it('transfer: seed policy: serves neighbours beyond the tracked limit unconditionally', () => {
    const policy = new SeedPolicy(2, { peersMax: 2 })
    expect(policy.decide('a', 0)).toBe('serve')
    expect(policy.decide('b', 0)).toBe('refuse')
    expect(policy.decide('c', 0)).toBe('serve')
    expect(policy.stats.neighbours).toBe(2)
  })

  it('transfer: seed policy: sends the configured number of copies before relying on holders', () => {
    const policy = new SeedPolicy(2, { copiesPerChunk: 2 })
    expect(['a', 'b', 'c'].map((p) => policy.decide(p, 1))).toEqual(['serve', 'serve', 'refuse'])
  })
})
