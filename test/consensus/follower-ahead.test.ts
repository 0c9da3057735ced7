/**
 * A follower's blocks held ahead of its head (issue 19, part 2): kept only once their
 * certificate verifies, within the byte budget, and not verified a second time when applied.
 */
import { describe, expect, it } from 'vitest'
import { Follower } from '../../src/consensus/follower.js'
import { certify } from '../../src/ledger/certificate.js'
import { makeDevChain } from '../../src/ledger/dev-chain.js'
import { LedgerState } from '../../src/ledger/state.js'
import { certificateChecks } from '../../src/ledger/verify-block.js'
import { certifiedChain } from '../helpers/chain.js'

const chain = makeDevChain({ seed: 'consensus-follower-ahead', validators: 4 })
const g = chain.genesis
const makeChain = (count: number) => certifiedChain(chain, count, `ahead-${count}`)

describe('consensus: follower, blocks held ahead of the head', () => {
  const chain12 = makeChain(12)

  it('holds a block ahead only once its certificate verifies: a forgery is a fault, not a held block', () => {
    const follower = new Follower<string>({ state: new LedgerState(g), now: g.time })
    const { block } = chain12[5]!
    const forged = certify(
      g,
      new Map([0, 1, 2].map((i) => [i, chain.key(`outsider/${i}`).secretKey])),
      6,
      0,
      block.hash,
    )
    const v = follower.handleBlock('mallory', block, forged, g.time)
    expect(v.kind).toBe('rejected')
    if (v.kind === 'rejected') expect(v.fault.code).toBe('bad-certificate')
    expect(follower.pendingBytes).toBe(0)
    expect(follower.pendingHeights()).toEqual([])
    expect(follower.poll()).toEqual([{ type: 'fault', from: 'mallory', fault: expect.anything() }])
    // A block whose transactions do not match its header is refused before its certificate.
    const tampered = { ...block, txs: chain12[6]!.block.txs }
    const t = follower.handleBlock('mallory', tampered, chain12[5]!.cert, g.time)
    expect(t.kind === 'rejected' && t.fault.code).toBe('bad-tx-root')
    expect(follower.pendingBytes).toBe(0)
  })

  it('keeps held blocks within the byte budget, dropping the farthest from the head first', () => {
    const size = chain12[1]!.block.bytes.byteLength
    const follower = new Follower<string>({
      state: new LedgerState(g),
      now: g.time,
      limits: { pendingBytesMax: 3 * size + 10 },
    })
    // Heights 8, 9, 10 fill the budget; 6 makes room by dropping 10; 12 does not fit at all.
    for (const h of [8, 9, 10, 6, 12]) {
      const { block, cert } = chain12[h - 1]!
      expect(follower.handleBlock('p', block, cert, g.time).kind, `height ${h}`).toBe('held')
      expect(follower.pendingBytes).toBeLessThanOrEqual(3 * size + 10)
    }
    expect(follower.pendingHeights().sort((a, b) => a - b)).toEqual([6, 8, 9])
    expect(follower.pendingBytes).toBe(
      [6, 8, 9].reduce((n, h) => n + chain12[h - 1]!.block.bytes.byteLength, 0),
    )
    // The gap arrives: everything held applies, and the buffer is empty again.
    for (const h of [1, 2, 3, 4, 5])
      follower.handleBlock('p', chain12[h - 1]!.block, chain12[h - 1]!.cert, g.time)
    expect(follower.head).toBe(6)
    follower.handleBlock('p', chain12[6]!.block, chain12[6]!.cert, g.time)
    expect(follower.head).toBe(9)
    expect(follower.pendingBytes).toBe(0)
    expect(follower.pendingHeights()).toEqual([])
  })

  it('verifies a held block’s certificate once: applying it later reuses the verdict', () => {
    const fresh = makeChain(3)
    const follower = new Follower<string>({ state: new LedgerState(g), now: g.time })
    const before = { ...certificateChecks }
    expect(follower.handleBlock('p', fresh[2]!.block, fresh[2]!.cert, g.time).kind).toBe('held')
    expect(certificateChecks.verified - before.verified).toBe(1)
    follower.handleBlock('p', fresh[0]!.block, fresh[0]!.cert, g.time)
    follower.handleBlock('p', fresh[1]!.block, fresh[1]!.cert, g.time)
    expect(follower.head).toBe(3)
    expect(certificateChecks.verified - before.verified, 'three blocks, three verifications').toBe(3)
    expect(certificateChecks.reused - before.reused, 'the held one was not verified again').toBe(1)
  })
})
