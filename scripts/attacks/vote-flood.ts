/**
 * A byzantine validator floods votes: validator-3 is stopped and an attacker process holding
 * its key connects to the honest validators' `/fwmesh/<chain>/pbft/1` protocol (the node's
 * own stack, src/node/host.ts) and sends, as fast as the streams take them, votes signed
 * badly (as itself and as other validators) and votes it signed itself for bogus blocks at
 * every height and view it may, view changes to far views and status hints of far heights.
 * Meanwhile a steady load of device registrations is submitted; commits per second are
 * measured with all 4 validators, with validator-3 just stopped, and under the flood.
 */
import { randomBytes } from 'node:crypto'
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { signPrepare } from '../../simulations/consensus/forge.js'
import { cidOfEncoded } from '../../src/codec/cid.js'
import { encode, type Msg } from '../../src/consensus/index.js'
import { viewChangeStatement } from '../../src/consensus/messages.js'
import { PBFT_INBOUND_MESSAGES_PER_SEC } from '../../src/constants.js'
import { SigningDomain } from '../../src/crypto/domains.js'
import { generateKeyPair, sign as signBytes } from '../../src/crypto/ed25519.js'
import { signCommit } from '../../src/ledger/certificate.js'
import { frameOf } from '../../src/node/frame-reader.js'
import { createHost, type Host, protocolIds } from '../../src/node/host.js'
import { address, type DemoNode, waitForApi } from '../fleet.js'
import { pushed } from './hostile-peers.js'
import {
  CHAIN,
  HARDWARE,
  headHeight,
  type Mesh,
  type Outcome,
  PRODUCT,
  round,
  sign,
  sleep,
  startValidator,
  stopNode,
  until,
} from './mesh.js'

/** Each phase of the load lasts this long; the rate is commits over it. */
const PHASE_MS = 20_000
/** Transactions in flight at once: the steady load (each waits for its commit). */
const LOAD_CONCURRENCY = 8
/** Validly signed bogus votes made before the flood (signing costs the attacker too). */
const SIGNED_POOL = 2_000
const GOAL = 0.8
/**
 * Messages per second offered to each honest validator: twice what one validator may hand
 * another (PBFT_INBOUND_MESSAGES_PER_SEC), so the flood runs into the receivers' budget and
 * their flow control, and hundreds of times a validator's quorum traffic.
 */
const FLOOD_MESSAGES_PER_SEC = 2 * PBFT_INBOUND_MESSAGES_PER_SEC
/** Messages per send of the flood. */
const FLOOD_BATCH = 64

/** Registers devices at a steady concurrency for `ms`; returns commits per second. */
async function load(mesh: Mesh, targets: readonly DemoNode[], ms: number): Promise<number> {
  const end = performance.now() + ms
  let commits = 0
  let n = 0
  await Promise.all(
    Array.from({ length: LOAD_CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const node = targets[n++ % targets.length]!
        const tx = sign(mesh.ops.admin, {
          type: 'device.register',
          device: generateKeyPair().publicKey,
          product: PRODUCT,
          hardware: HARDWARE,
          groups: [],
        })
        const r = await node.api.submit(tx, 15_000).catch(() => null)
        if (r?.status === 'committed' && performance.now() <= end) commits++
      }
    }),
  )
  return commits / (ms / 1000)
}

/** The flood's messages, encoded once: a pool cycled through as fast as the streams take it. */
function floodMessages(mesh: Mesh, head: number): Uint8Array[] {
  const keys = mesh.validators[3]!.keys
  const out: Uint8Array[] = []
  const bogus = () => cidOfEncoded(randomBytes(32))
  // Validly signed by validator-3, for bogus blocks at every height and view of the window and
  // beyond it.
  for (let i = 0; i < SIGNED_POOL; i++) {
    const height = head + 1 + (i % 12)
    const view = i % 16
    const block = bogus()
    const vote: Msg =
      i % 2 === 0
        ? {
            type: 'prepare',
            view,
            height,
            block,
            validator: 3,
            sig: signPrepare(keys.secretKey, CHAIN, height, view, block),
          }
        : {
            type: 'commit',
            view,
            height,
            block,
            validator: 3,
            sig: signCommit(keys.secretKey, CHAIN, height, view, block),
          }
    out.push(encode(vote))
  }
  // Badly signed, as itself and as the other validators, at the next height.
  for (let i = 0; i < SIGNED_POOL; i++) {
    const type = i % 2 === 0 ? 'prepare' : 'commit'
    out.push(
      encode({
        type,
        view: i % 3,
        height: head + 1 + (i % 3),
        block: bogus(),
        validator: i % 4,
        sig: randomBytes(64),
      } as Msg),
    )
  }
  // View changes to far views, signed; and status hints of far heights.
  for (let i = 0; i < 200; i++) {
    const vc = { view: 1 + i, validator: 3, head: null, prepared: null }
    const sig = signBytes(keys.secretKey, SigningDomain.consensus, viewChangeStatement(CHAIN, vc))
    out.push(encode({ type: 'view-change', ...vc, sig }))
    out.push(encode({ type: 'status', height: head + 1_000_000 + i, view: 1 + i }))
  }
  // Interleave the kinds.
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

interface Flood {
  sent: number
  stop(): Promise<void>
}

async function startFlood(mesh: Mesh, honest: readonly DemoNode[]): Promise<Flood> {
  const protocol = protocolIds(CHAIN).pbft
  const host: Host = await createHost({
    keys: mesh.validators[3]!.keys,
    listen: [],
    bootstrap: [],
    mdns: false,
  })
  // The honest validators write to validator-3 too: read and drop it.
  await host.handle(
    protocol,
    (stream: Stream) => {
      stream.addEventListener('message', () => {})
    },
    { maxInboundStreams: 8 },
  )
  const frames = floodMessages(mesh, await headHeight(honest[0]!))
  // Frames go out FLOOD_BATCH at a time: one send per batch keeps the attacker cheap.
  const messages: Uint8Array[] = []
  for (let i = 0; i < frames.length; i += FLOOD_BATCH)
    messages.push(Buffer.concat(frames.slice(i, i + FLOOD_BATCH).map((m) => frameOf([m]).subarray())))
  const flood: Flood = { sent: 0, stop: async () => {} }
  let stopped = false
  const pumps = honest.map(async (v) => {
    while (!stopped) {
      try {
        const stream = await host.dialProtocol(multiaddr(address(v)), protocol, {
          signal: AbortSignal.timeout(10_000),
        })
        // A fixed rate, not "as fast as the stream takes it": yamux buffered without bound in
        // the attacker's process when it wrote flat out (3.9 GB), before validators held a
        // sender to its budget; `pushed` waits for the stream to drain past 1 MiB.
        const pace = performance.now()
        for (let i = 0; !stopped && stream.status === 'open'; i++) {
          flood.sent += FLOOD_BATCH
          await pushed(stream, messages[i % messages.length]!)
          const due = pace + ((i + 1) * FLOOD_BATCH * 1000) / FLOOD_MESSAGES_PER_SEC
          if (due > performance.now()) await sleep(due - performance.now())
        }
      } catch {
        // The validator reset the stream: open another.
        await sleep(100)
      }
    }
  })
  flood.stop = async () => {
    stopped = true
    await host.stop()
    await Promise.allSettled(pumps)
  }
  return flood
}

export async function voteFlood(mesh: Mesh): Promise<Outcome> {
  const honest = mesh.validators.slice(0, 3)
  const all4 = await load(mesh, honest, PHASE_MS)
  await stopNode(mesh, mesh.validators[3]!)
  const clean = await load(mesh, honest, PHASE_MS)
  const flood = await startFlood(mesh, honest)
  let flooded: number
  let heightMoved: number
  try {
    const h = await headHeight(honest[0]!)
    flooded = await load(mesh, honest, PHASE_MS)
    heightMoved = (await headHeight(honest[0]!)) - h
  } finally {
    await Promise.race([flood.stop(), sleep(10_000)])
  }
  const sent = flood.sent
  // validator-3 comes back, so later work (none now) would have its quorum of 4.
  await startValidator(mesh, mesh.validators[3]!)
  await waitForApi(mesh.validators[3]!)
  await until(
    'validator-3 catches up',
    60_000,
    async () => (await headHeight(mesh.validators[3]!)) >= (await headHeight(honest[0]!)) - 1,
  ).catch(() => {})
  const ratio = clean > 0 ? round(flooded / clean) : 0
  return {
    attack: 'byzantine vote flood',
    tried: `validator-3's key floods the 3 honest validators' pbft protocol (${sent} messages in ${PHASE_MS / 1000} s: bad signatures, signed bogus votes, far view changes and status) under a load of ${LOAD_CONCURRENCY} device registrations in flight`,
    outcome: `commits/s: ${round(all4)} with 4 honest, ${round(clean)} with validator-3 stopped, ${round(flooded)} under the flood (x${ratio}, goal >= ${GOAL}); ${heightMoved} blocks during the flood`,
    rejected: ratio >= GOAL,
    figures: { all4, clean, flooded, ratio, messagesSent: sent },
  }
}
