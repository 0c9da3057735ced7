import { describe, expect, it } from 'vitest'
import { emptyBitfield, setBit } from '../../src/transfer/bitfield.js'
import { SeedPolicy } from '../../src/transfer/seed-policy.js'

describe('transfer: seed policy (the origin super-seeds)', () => {
  it('transfer: seed policy: sends a chunk once, then refuses it while the neighbour it went to is connected', () => {
    const policy = new SeedPolicy(8)
    expect(policy.decide('a', 3, 0)).toBe('serve')
    expect(policy.decide('b', 3, 0)).toBe('refuse')
    expect(policy.decide('c', 3, 0)).toBe('refuse')
    expect(policy.copiesSent(3)).toBe(1)
    expect(policy.holdersOf(3)).toBe(1)
  })

  it('transfer: seed policy: serves every chunk nobody has yet, to whoever asks first', () => {
    const policy = new SeedPolicy(8)
    const decisions = [0, 1, 2, 3].map((chunk, i) => policy.decide(`peer-${i}`, chunk, 0))
    expect(decisions).toEqual(['serve', 'serve', 'serve', 'serve'])
  })

  it('transfer: seed policy: serves a chunk again once every neighbour holding it has left', () => {
    const policy = new SeedPolicy(8)
    expect(policy.decide('a', 5, 0)).toBe('serve')
    expect(policy.decide('b', 5, 0)).toBe('refuse')
    policy.handlePeerLeft('a')
    expect(policy.holdersOf(5)).toBe(0)
    expect(policy.decide('b', 5, 0)).toBe('serve')
    expect(policy.copiesSent(5)).toBe(2)
  })

  it('transfer: seed policy: counts chunks neighbours announced (have bitfields and have-updates) as out', () => {
    const policy = new SeedPolicy(16)
    expect(policy.decide('a', 9, 0)).toBe('serve')
    const bits = emptyBitfield(16)
    setBit(bits, 9)
    policy.handlePeerBitfield('holder', bits)
    policy.handlePeerHave('other-holder', [9, 10])
    policy.handlePeerLeft('a')
    expect(policy.holdersOf(9)).toBe(2)
    expect(policy.decide('b', 9, 0)).toBe('refuse')
    policy.handlePeerLeft('holder')
    expect(policy.decide('b', 9, 0)).toBe('refuse')
    policy.handlePeerLeft('other-holder')
    expect(policy.decide('b', 9, 0)).toBe('serve')
  })

  it('transfer: seed policy: a neighbour refused the same chunk three times is served on its fourth request', () => {
    const policy = new SeedPolicy(4)
    expect(policy.decide('holder', 0, 0)).toBe('serve')
    const answers = [1, 2, 3, 4].map(() => policy.decide('starving', 0, 0))
    expect(answers).toEqual(['refuse', 'refuse', 'refuse', 'serve'])
    // Served, its count starts over: asking again is refused like a first time.
    expect(policy.decide('starving', 0, 0)).toBe('refuse')
    expect(policy.stats).toEqual({ served: 2, refused: 4, neighbours: 2 })
  })

  it('transfer: seed policy: refusals earn a chunk one extra copy in all, not one per neighbour', () => {
    const policy = new SeedPolicy(4, { refusalsBeforeServe: 1, backstopCopiesMax: 2 })
    expect(policy.decide('holder', 0, 0)).toBe('serve')
    expect([0, 1].map(() => policy.decide('first-asker', 0, 0))).toEqual(['refuse', 'serve'])
    // Two copies are out: another neighbour's refusals no longer earn it a third.
    expect([0, 1, 2, 3].map(() => policy.decide('second-asker', 0, 0))).toEqual([
      'refuse',
      'refuse',
      'refuse',
      'refuse',
    ])
    expect(policy.copiesSent(0)).toBe(2)
  })

  it('transfer: seed policy: the copy cap does not stop a starving neighbour being served', () => {
    const policy = new SeedPolicy(4, { refusalsBeforeServe: 1, backstopCopiesMax: 2, starvationMs: 3_000 })
    expect(policy.decide('holder', 0, 0)).toBe('serve')
    expect(policy.decide('other-holder', 0, 0)).toBe('refuse')
    expect(policy.decide('other-holder', 0, 0)).toBe('serve')
    expect(policy.decide('isolated', 0, 1_000)).toBe('refuse')
    expect(policy.decide('isolated', 0, 2_000)).toBe('refuse')
    expect(policy.decide('isolated', 0, 4_000)).toBe('serve')
    expect(policy.copiesSent(0)).toBe(3)
  })

  it('transfer: seed policy: refusals of different chunks do not add up to the backstop', () => {
    const policy = new SeedPolicy(8)
    for (let chunk = 0; chunk < 8; chunk++) expect(policy.decide('holder', chunk, 0)).toBe('serve')
    const answers = [0, 1, 2, 3, 4, 5, 6, 7].map((chunk) => policy.decide('asker', chunk, 0))
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
    expect(policy.decide('a', 0, 0)).toBe('serve')
    expect(policy.decide('b', 0, 0)).toBe('refuse')
    expect(policy.decide('c', 0, 0)).toBe('serve')
    expect(policy.stats.neighbours).toBe(2)
  })

  it('transfer: seed policy: serves a neighbour with no other source once it has been refused for the starvation time', () => {
    const policy = new SeedPolicy(64, { starvationMs: 3_000 })
    for (let chunk = 0; chunk < 64; chunk++) expect(policy.decide('holder', chunk, 0)).toBe('serve')
    // The isolated device asks for a different chunk each time: the per-chunk count never helps.
    expect(policy.decide('isolated', 0, 1_000)).toBe('refuse')
    expect(policy.decide('isolated', 1, 2_000)).toBe('refuse')
    expect(policy.decide('isolated', 2, 3_999)).toBe('refuse')
    // From 3 s after its first refusal it is served, and stays served while nothing else comes.
    expect(policy.decide('isolated', 3, 4_000)).toBe('serve')
    expect(policy.decide('isolated', 4, 4_100)).toBe('serve')
    // Announcing what the origin sent is no news of another source.
    policy.handlePeerHave('isolated', [3, 4])
    expect(policy.decide('isolated', 5, 4_200)).toBe('serve')
  })

  it('transfer: seed policy: a chunk from elsewhere ends the starvation and the clock starts again', () => {
    const policy = new SeedPolicy(64, { starvationMs: 3_000 })
    for (let chunk = 0; chunk < 64; chunk++) expect(policy.decide('holder', chunk, 0)).toBe('serve')
    expect(policy.decide('device', 0, 0)).toBe('refuse')
    expect(policy.decide('device', 1, 3_000)).toBe('serve')
    policy.handlePeerHave('device', [10])
    expect(policy.decide('device', 2, 3_100)).toBe('refuse')
    expect(policy.decide('device', 3, 6_000)).toBe('refuse')
    expect(policy.decide('device', 4, 6_100)).toBe('serve')
  })

  it('transfer: seed policy: early in a rollout, devices refused within the starvation time are still refused', () => {
    const policy = new SeedPolicy(8, { starvationMs: 3_000 })
    expect(policy.decide('first', 0, 0)).toBe('serve')
    const answers = ['a', 'b', 'c', 'd'].map((p, i) => policy.decide(p, 0, 500 * i))
    expect(answers).toEqual(['refuse', 'refuse', 'refuse', 'refuse'])
    expect(policy.copiesSent(0)).toBe(1)
  })

  it('transfer: seed policy: a neighbour still being sent chunks nobody had is busy, not starving', () => {
    const policy = new SeedPolicy(64, { starvationMs: 3_000 })
    for (let chunk = 0; chunk < 32; chunk++) expect(policy.decide('holder', chunk, 0)).toBe('serve')
    // Early in a rollout: refused what is already out, sent what nobody has, for longer than 3 s.
    for (let t = 0; t < 8; t++) {
      expect(policy.decide('busy', t, 1_000 * t)).toBe('refuse')
      expect(policy.decide('busy', 32 + t, 1_000 * t + 500)).toBe('serve')
    }
    expect(policy.decide('busy', 10, 9_000)).toBe('refuse')
  })

  it('transfer: seed policy: a neighbour asking again for a chunk it was sent no longer counts as its holder', () => {
    const policy = new SeedPolicy(8)
    expect(policy.decide('device', 2, 0)).toBe('serve')
    expect(policy.holdersOf(2)).toBe(1)
    // The send was cancelled or lost: the only "holder" is the one asking, so it is served again.
    expect(policy.decide('device', 2, 10)).toBe('serve')
    expect(policy.copiesSent(2)).toBe(2)
    expect(policy.holdersOf(2)).toBe(1)
    // Another neighbour still sees one holder out there.
    expect(policy.decide('other', 2, 20)).toBe('refuse')
  })

  it('transfer: seed policy: sends the configured number of copies before relying on holders', () => {
    const policy = new SeedPolicy(2, { copiesPerChunk: 2 })
    expect(['a', 'b', 'c'].map((p) => policy.decide(p, 1, 0))).toEqual(['serve', 'serve', 'refuse'])
  })
})
