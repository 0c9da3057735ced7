import { concatBytes } from '../../src/codec/bytes.js'
import { cidOfEncoded, cidToString } from '../../src/codec/cid.js'
import { type Commit, encode, type Msg, type PrePrepare, type Prepare } from '../../src/consensus/messages.js'
import { makeBlock } from '../../src/ledger/block.js'
import { signCommit } from '../../src/ledger/certificate.js'
import type { Genesis } from '../../src/ledger/genesis.js'
import type { LedgerState } from '../../src/ledger/state.js'
import { buildBlock } from '../../src/ledger/verify-block.js'
import type { Prng } from '../../src/prng.js'
import { signPrepare } from './forge.js'

/**
 * Byzantine validators for the simulator. Each runs the honest replica code and tampers with
 * what goes in or out, signing with its own (real) key: the test is whether the honest
 * validators stay safe and live with up to f of these among them. The twins behaviour (two
 * replicas sharing one key) is built by the cluster, which runs two honest copies.
 */

export const BEHAVIOURS = [
  'equivocate',
  'twins',
  'malformed',
  'vote-all',
  'silent-primary',
  'delay',
  'mutate',
] as const
export type BehaviourName = (typeof BEHAVIOURS)[number]

/** What a behaviour may do: send anything, to anyone, as its validator. */
export interface ByzantineContext {
  readonly index: number
  readonly secretKey: Uint8Array
  readonly genesis: Genesis
  readonly prng: Prng
  /** The base view-change timeout of the run (for delays "past timeouts"). */
  readonly timeoutMs: number
  /** Sends raw bytes to a validator, or to every other validator, optionally late. */
  send(to: number | 'all', bytes: Uint8Array, extraDelayMs?: number): void
  /** The replica's committed state (undefined while it is down): to build valid blocks. */
  ledger(): LedgerState | undefined
}

export interface Behaviour {
  readonly name: BehaviourName
  /** An honest message about to leave; the behaviour decides what actually goes out. */
  outgoing(ctx: ByzantineContext, to: number | 'all', msg: Msg): void
  /** A message that arrived for the core (it still gets it). */
  incoming?(ctx: ByzantineContext, from: number, msg: Msg): void
}

const passThrough = (ctx: ByzantineContext, to: number | 'all', msg: Msg) => ctx.send(to, encode(msg))

/** Never proposes: its pre-prepares and NEW-VIEWs are dropped, everything else flows. */
function silentPrimary(): Behaviour {
  return {
    name: 'silent-primary',
    outgoing(ctx, to, msg) {
      if (msg.type === 'pre-prepare' || msg.type === 'new-view') return
      passThrough(ctx, to, msg)
    },
  }
}

/** Delays every message by one to four view-change timeouts. */
function delay(): Behaviour {
  return {
    name: 'delay',
    outgoing(ctx, to, msg) {
      ctx.send(to, encode(msg), ctx.prng.range(1, 4) * ctx.timeoutMs)
    },
  }
}

/**
 * As primary, proposes two different blocks for one height and view, to two halves of the
 * validators (and sometimes both to one), and votes for both.
 */
function equivocate(): Behaviour {
  const twins = new Map<string, PrePrepare>()
  const halves = new Map<string, Set<number>>()
  return {
    name: 'equivocate',
    outgoing(ctx, to, msg) {
      const n = ctx.genesis.validators.length
      if (msg.type === 'pre-prepare' && msg.validator === ctx.index) {
        const a = msg.block
        // A second valid block: one transaction fewer (or none), a later time, and the state
        // root those lead to (or, if the twin cannot be built, a's root: an invalid twin).
        const txs = a.txs.length > 0 ? a.txs.slice(0, a.txs.length - 1) : []
        const { txRoot: _t, txCount: _c, stateRoot, ...fields } = a.header
        const state = ctx.ledger()
        const built = state
          ? buildBlock(state, { ...fields, time: a.header.time + 1 }, txs, { verifySignatures: false })
          : undefined
        const b = built?.ok
          ? built.value.block
          : makeBlock({ ...fields, time: a.header.time + 1, stateRoot }, txs)
        const sig = signPrepare(ctx.secretKey, ctx.genesis.chainId, msg.height, msg.view, b.hash)
        const other: PrePrepare = { ...msg, block: b, sig }
        twins.set(a.hashString, other)
        const others = [...Array(n).keys()].filter((i) => i !== ctx.index)
        ctx.prng.shuffle(others)
        const half = new Set(others.slice(0, Math.ceil(others.length / 2)))
        halves.set(a.hashString, half)
        for (const i of others) ctx.send(i, encode(half.has(i) ? msg : other))
        // Sometimes hand one replica both: proof of equivocation.
        if (ctx.prng.chance(0.3)) ctx.send(ctx.prng.pick(others), encode(other))
        return
      }
      if ((msg.type === 'prepare' || msg.type === 'commit') && msg.validator === ctx.index) {
        const key = cidToString(msg.block)
        const other = twins.get(key)
        const half = halves.get(key)
        if (other && half) {
          const altVote = revote(ctx, msg, other.block.hash)
          for (let i = 0; i < n; i++) {
            if (i === ctx.index) continue
            ctx.send(i, encode(half.has(i) ? msg : altVote))
          }
          return
        }
      }
      passThrough(ctx, to, msg)
      if (twins.size > 32) twins.clear()
      if (halves.size > 32) halves.clear()
    },
  }
}

function revote<V extends Prepare | Commit>(
  ctx: ByzantineContext,
  vote: V,
  block: V['block'],
  view = vote.view,
  height = vote.height,
): V {
  const sig =
    vote.type === 'prepare'
      ? signPrepare(ctx.secretKey, ctx.genesis.chainId, height, view, block)
      : signCommit(ctx.secretKey, ctx.genesis.chainId, height, view, block)
  return { ...vote, block, view, height, sig }
}

/** Signs a prepare and a commit for every proposal and vote it sees, whatever the view. */
function voteAll(): Behaviour {
  const voted = new Set<string>()
  return {
    name: 'vote-all',
    outgoing: passThrough,
    incoming(ctx, _from, msg) {
      let height: number
      let view: number
      let block: Prepare['block']
      if (msg.type === 'pre-prepare') {
        height = msg.height
        view = msg.view
        block = msg.block.hash
      } else if (msg.type === 'prepare' || msg.type === 'commit') {
        height = msg.height
        view = msg.view
        block = msg.block
      } else return
      const key = `${height}/${view}/${block.toString()}`
      if (voted.has(key)) return
      if (voted.size > 256) voted.clear()
      voted.add(key)
      const base = { view, height, block, validator: ctx.index }
      const prepare: Prepare = {
        type: 'prepare',
        ...base,
        sig: signPrepare(ctx.secretKey, ctx.genesis.chainId, height, view, block),
      }
      const commit: Commit = {
        type: 'commit',
        ...base,
        sig: signCommit(ctx.secretKey, ctx.genesis.chainId, height, view, block),
      }
      ctx.send('all', encode(prepare))
      ctx.send('all', encode(commit))
    },
  }
}

/** Half of its messages are garbage: random bytes, truncations, flipped signatures, lies. */
function malformed(): Behaviour {
  return {
    name: 'malformed',
    outgoing(ctx, to, msg) {
      if (!ctx.prng.chance(0.5)) return passThrough(ctx, to, msg)
      const bytes = encode(msg)
      switch (ctx.prng.int(5)) {
        case 0:
          return ctx.send(to, ctx.prng.bytes(ctx.prng.range(1, 300)))
        case 1:
          return ctx.send(to, bytes.slice(0, ctx.prng.int(bytes.byteLength)))
        case 2: {
          if (!('sig' in msg)) return ctx.send(to, bytes)
          const sig = new Uint8Array(msg.sig)
          sig[ctx.prng.int(sig.byteLength)]! ^= 1 << ctx.prng.int(8)
          return ctx.send(to, encode({ ...msg, sig } as Msg))
        }
        case 3: {
          // Claims to be another validator (the signature then cannot match).
          if (!('validator' in msg)) return ctx.send(to, bytes)
          const n = ctx.genesis.validators.length
          return ctx.send(
            to,
            encode({ ...msg, validator: (msg.validator + 1 + ctx.prng.int(n - 1)) % n } as Msg),
          )
        }
        default: {
          // One flipped byte anywhere: a broken block, a bad CID, or bad CBOR.
          const copy = new Uint8Array(bytes)
          copy[ctx.prng.int(copy.byteLength)]! ^= 1 << ctx.prng.int(8)
          return ctx.send(to, copy)
        }
      }
    },
  }
}

/**
 * ByzzFuzz-style mutations of its own protocol messages, re-signed with its key: the view or
 * the height off by one, a replayed old pre-prepare, a swapped block digest.
 */
function mutate(): Behaviour {
  const oldProposals: PrePrepare[] = []
  return {
    name: 'mutate',
    outgoing(ctx, to, msg) {
      if (msg.type === 'pre-prepare') {
        oldProposals.push(msg)
        if (oldProposals.length > 8) oldProposals.shift()
      }
      if (!ctx.prng.chance(0.5)) return passThrough(ctx, to, msg)
      const delta = ctx.prng.chance(0.5) ? 1 : -1
      switch (msg.type) {
        case 'pre-prepare': {
          const choice = ctx.prng.int(3)
          if (choice === 0 && oldProposals.length > 1)
            return ctx.send(to, encode(ctx.prng.pick(oldProposals)))
          const view = choice === 1 ? Math.max(0, msg.view + delta) : msg.view
          const height = choice === 2 ? Math.max(1, msg.height + delta) : msg.height
          const sig = signPrepare(ctx.secretKey, ctx.genesis.chainId, height, view, msg.block.hash)
          return ctx.send(to, encode({ ...msg, view, height, sig }))
        }
        case 'prepare':
        case 'commit': {
          const choice = ctx.prng.int(3)
          if (choice === 0) {
            const swapped = cidOfEncoded(concatBytes(msg.block.bytes, ctx.prng.bytes(4)))
            return ctx.send(to, encode(revote(ctx, msg, swapped)))
          }
          const view = choice === 1 ? Math.max(0, msg.view + delta) : msg.view
          const height = choice === 2 ? Math.max(1, msg.height + delta) : msg.height
          return ctx.send(to, encode(revote(ctx, msg, msg.block, view, height)))
        }
        default:
          return passThrough(ctx, to, msg)
      }
    },
  }
}

export function makeBehaviour(name: Exclude<BehaviourName, 'twins'>): Behaviour {
  switch (name) {
    case 'equivocate':
      return equivocate()
    case 'malformed':
      return malformed()
    case 'vote-all':
      return voteAll()
    case 'silent-primary':
      return silentPrimary()
    case 'delay':
      return delay()
    case 'mutate':
      return mutate()
  }
}
