import { describe, expect, it } from 'vitest'
import { Follower } from '../../src/consensus/follower.js'
import { serveSync } from '../../src/consensus/sync.js'
import { type Block, makeBlock } from '../../src/ledger/block.js'
import { type Certificate, certify } from '../../src/ledger/certificate.js'
import { makeDevChain } from '../../src/ledger/dev-chain.js'
import { LedgerState } from '../../src/ledger/state.js'
import { assembleTx } from '../../src/ledger/tx.js'
import { certifiedChain } from '../helpers/chain.js'

const chain = makeDevChain({
  seed: 'consensus-follower',
  validators: 4,
  params: { emptyBlockIntervalMs: 1000 },
})
const g = chain.genesis
const all = new Map(chain.validators.map((v, i) => [i, v.secretKey]))
const three = new Map([...all].slice(0, 3))

const good = certifiedChain(chain, 6, 'fd')

describe('consensus: follower', () => {
  it('applies committed blocks in order and reports each as a commit', () => {
    const follower = new Follower<string>({ state: new LedgerState(g), now: g.time })
    for (const { block, cert } of good) {
      const v = follower.handleBlock('peer-a', block, cert, g.time)
      expect(v.kind, `height ${block.header.height}`).toBe('applied')
    }
    expect(follower.head).toBe(6)
    expect(follower.poll().filter((o) => o.type === 'commit')).toHaveLength(6)
    expect(follower.handleBlock('peer-a', good[2]!.block, good[2]!.cert, g.time).kind).toBe('known')
  })

  it('holds a block that skips ahead and asks its sender for the gap, then applies both', () => {
    const follower = new Follower<string>({ state: new LedgerState(g), now: g.time })
    expect(follower.handleBlock('peer-b', good[2]!.block, good[2]!.cert, g.time).kind).toBe('held')
    const outputs = follower.poll()
    expect(outputs).toEqual([{ type: 'request-sync', from: 'peer-b', height: 1, count: expect.any(Number) }])
    const response = serveSync({ type: 'sync-request', height: 1, count: 2 }, (h) => good[h - 1])
    follower.handleSyncResponse('peer-b', response.blocks, g.time)
    expect(follower.head).toBe(3)
  })

  describe('a peer feeding it a forged block is refused, and the follower stays where it was', () => {
    const [first] = good
    const forgedTx = assembleTx(first!.block.txs[0]!.body, new Uint8Array(64).fill(1))
    const forgedTxBlock = makeBlock({ ...first!.block.header }, [forgedTx])
    const otherBlock = makeBlock(
      { ...first!.block.header, time: first!.block.header.time + 1 },
      first!.block.txs,
    )
    const cases: [string, Block, Certificate, string][] = [
      [
        'a certificate of too few validators',
        first!.block,
        certify(g, new Map([...all].slice(0, 2)), 1, 0, first!.block.hash),
        'bad-certificate',
      ],
      ['a certificate of another block', otherBlock, first!.cert, 'bad-certificate'],
      [
        'votes signed by outsiders',
        first!.block,
        certify(
          g,
          new Map([0, 1, 2].map((i) => [i, chain.key(`outsider/${i}`).secretKey])),
          1,
          0,
          first!.block.hash,
        ),
        'bad-certificate',
      ],
      [
        'a transaction with a forged signature (certified by a dishonest majority)',
        forgedTxBlock,
        certify(g, three, 1, 0, forgedTxBlock.hash),
        'rejected-tx',
      ],
      ['a block that does not follow its head', good[1]!.block, good[1]!.cert, 'held'],
    ]
    for (const [what, block, cert, code] of cases) {
      it(`refuses ${what}`, () => {
        const follower = new Follower<string>({ state: new LedgerState(g), now: g.time })
        const v = follower.handleBlock('mallory', block, cert, g.time)
        if (code === 'held') {
          expect(v.kind).toBe('held')
        } else {
          expect(v.kind).toBe('rejected')
          if (v.kind === 'rejected') expect(v.fault.code).toBe(code)
          expect(follower.poll().some((o) => o.type === 'fault' && o.from === 'mallory')).toBe(true)
        }
        expect(follower.head).toBe(0)
        // The honest block still applies afterwards.
        expect(follower.handleBlock('honest', first!.block, first!.cert, g.time).kind).toBe('applied')
      })
    }
  })

  it('tells a live chain from a frozen one by the age of its head', () => {
    const follower = new Follower<string>({ state: new LedgerState(g), now: g.time })
    follower.handleBlock('p', good[0]!.block, good[0]!.cert, g.time)
    const headTime = good[0]!.block.header.time
    expect(follower.isLive(headTime + 2000)).toBe(true)
    expect(follower.isLive(headTime + 3000)).toBe(true)
    expect(follower.isLive(headTime + 3001)).toBe(false)
  })

  it('gives up on a sync peer that does not answer and asks another', () => {
    const follower = new Follower<string>({
      state: new LedgerState(g),
      now: g.time,
      limits: { syncRequestTimeoutMs: 500 },
    })
    follower.handleStatus('silent', 5, g.time)
    follower.handleStatus('helpful', 4, g.time)
    expect(follower.poll()).toEqual([
      { type: 'request-sync', from: 'silent', height: 1, count: expect.any(Number) },
    ])
    expect(follower.nextDeadline()).toBe(g.time + 500)
    follower.handleTick(g.time + 500)
    expect(follower.poll()).toEqual([
      { type: 'request-sync', from: 'helpful', height: 1, count: expect.any(Number) },
    ])
  })
})

describe('consensus: sync serving', () => {
  it('answers with consecutive blocks, bounded in count and in bytes, and always at least one', () => {
    const read = (h: number) => good[h - 1]
    expect(
      serveSync({ type: 'sync-request', height: 2, count: 3 }, read).blocks.map((b) => b.block.header.height),
    ).toEqual([2, 3, 4])
    expect(serveSync({ type: 'sync-request', height: 5, count: 10 }, read).blocks).toHaveLength(2)
    expect(serveSync({ type: 'sync-request', height: 9, count: 10 }, read).blocks).toHaveLength(0)
    expect(
      serveSync({ type: 'sync-request', height: 1, count: 10 }, read, { blocksMax: 2, bytesMax: 1 << 20 })
        .blocks,
    ).toHaveLength(2)
    expect(
      serveSync({ type: 'sync-request', height: 1, count: 10 }, read, { blocksMax: 10, bytesMax: 10 }).blocks,
    ).toHaveLength(1)
  })
})
