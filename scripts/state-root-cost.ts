/**
 * `npx tsx scripts/state-root-cost.ts`: what the state root costs on a 10,000-device state
 * (each device registered, with one install report), beside the ed25519 check of the same
 * transactions in the same run. docs/hardening.md ("Ledger state at rest") quotes it. Prints
 * one line per figure; the best of 15 rounds each.
 */
import { DevBlockBuilder, makeDevChain, TxFactory } from '../src/ledger/dev-chain.js'
import { applyInPlace } from '../src/ledger/rules.js'
import { verifyTxSignature } from '../src/ledger/tx.js'

const DEVICES = 10_000
const chain = makeDevChain({ seed: 'state-root-cost' })
const f = new TxFactory(chain)
const builder = new DevBlockBuilder(chain)
const release = f.publish({
  product: 'gw',
  version: '1.0.0',
  hardware: ['a'],
  imageSize: 10,
  imageSha256: new Uint8Array(32),
})
builder.next(f.bootstrap())
builder.next([release])
const devices = Array.from({ length: DEVICES }, (_, i) => chain.key(`d${i}`))
for (let i = 0; i < DEVICES; i += 1000)
  builder.next(devices.slice(i, i + 1000).map((d) => f.registerDevice(d.publicKey, 'gw', 'a')))
for (let i = 0; i < DEVICES; i += 1000)
  builder.next(
    devices
      .slice(i, i + 1000)
      .map((d, j) => f.report(d, release.id, 'downloading', new Uint8Array(32), i + j)),
  )
const state = builder.state
let records = 0
for (const table of state.tables()) for (const _ of table.entries()) records++
console.log(`records: ${records}`)

let cold = Number.POSITIVE_INFINITY
for (let r = 0; r < 3; r++) {
  const fresh = state.copy()
  fresh.dropDigest()
  const t = performance.now()
  fresh.stateRoot()
  cold = Math.min(cold, performance.now() - t)
}
console.log(`whole root from scratch (as on open): ${cold.toFixed(0)} ms`)
const t = performance.now()
const copy = state.copy()
console.log(`copy of the state with its digest: ${(performance.now() - t).toFixed(0)} ms`)

for (const size of [1, 100, 1000]) {
  const txs = devices
    .slice(0, size)
    .map((d, j) => f.report(d, release.id, 'confirmed', new Uint8Array(32), 1e6 + size + j))
  const ctx = { height: state.head.height + 1, time: state.head.time + 1 }
  let apply = Number.POSITIVE_INFINITY
  let root = Number.POSITIVE_INFINITY
  let verify = Number.POSITIVE_INFINITY
  for (let r = 0; r < 15; r++) {
    const draft = copy.derive()
    let t0 = performance.now()
    for (const tx of txs) applyInPlace(draft, tx, ctx, { verifySignatures: false })
    apply = Math.min(apply, performance.now() - t0)
    t0 = performance.now()
    draft.stateRoot()
    root = Math.min(root, performance.now() - t0)
    t0 = performance.now()
    for (const tx of txs) verifyTxSignature(tx)
    verify = Math.min(verify, performance.now() - t0)
  }
  const us = (ms: number) => ((ms * 1000) / size).toFixed(1)
  console.log(
    `block of ${size}: per report apply ${us(apply)} µs, state root ${us(root)} µs, signature check ${us(verify)} µs (root/signature ${(root / verify).toFixed(2)})`,
  )
}
