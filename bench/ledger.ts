/**
 * `npm run bench -- ledger`: the cost of the ledger's hot paths, each beside the raw ed25519
 * verify of node:crypto measured in the same run. Prints one JSON object.
 *
 * The goal of issue 2: applying a block of 100 install reports costs under 1.3× its 100
 * signature verifications alone (`applyBlockToVerifyRatio`; `decodeApplyBlockToVerifyRatio`
 * includes decoding the block from bytes, as a follower receiving it does).
 */
import { createPublicKey, verify as nodeVerify } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SigningDomain } from '../src/crypto/domains.js'
import { signingBytes } from '../src/crypto/ed25519.js'
import { decodeBlock } from '../src/ledger/block.js'
import { DevBlockBuilder, makeDevChain, TxFactory } from '../src/ledger/dev-chain.js'
import { verifyTxSignature } from '../src/ledger/tx.js'
import { applyBlock } from '../src/ledger/verify-block.js'
import { LevelLedgerStore } from '../src/node/store/level-ledger-store.js'

const TXS_PER_BLOCK = 100
const DEVICES = 100

/** Runs `fn` until `minMs` has passed (after a warm-up) and returns calls per second. */
function rate(fn: () => void, minMs = 1500): number {
  for (let i = 0; i < 50; i++) fn()
  let calls = 0
  const start = performance.now()
  let elapsed = 0
  while (elapsed < minMs) {
    for (let i = 0; i < 20; i++) fn()
    calls += 20
    elapsed = performance.now() - start
  }
  return (calls * 1000) / elapsed
}

export async function main(_args: string[]): Promise<void> {
  const chain = makeDevChain({ seed: 'bench-ledger', params: { imageBytesMax: 1024 ** 3 } })
  const f = new TxFactory(chain)
  const builder = new DevBlockBuilder(chain)
  const hash = new Uint8Array(32).fill(1)
  const devices = Array.from({ length: DEVICES }, (_, i) => chain.key(`device/${i}`))
  const release = f.publish({
    product: 'gw',
    version: '1.0.0',
    hardware: ['a'],
    imageSize: 1 << 20,
    imageSha256: hash,
  })
  const setup = [
    builder.next(f.bootstrap()),
    builder.next(devices.map((d) => f.registerDevice(d.publicKey, 'gw', 'a'))),
    builder.next([release]),
  ]
  const reports = (n: number) => devices.map((d) => f.report(d, release.id, 'confirmed', hash, n))
  const sample = reports(0)

  // Baseline: node:crypto's raw verify of the same bytes with a prepared key, nothing else.
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), devices[0]!.publicKey])
  const rawKey = createPublicKey({ key: spki, format: 'der', type: 'spki' })
  const rawMessage = signingBytes(SigningDomain.tx, sample[0]!.bodyBytes)
  const rawSignature = sample[0]!.signature
  const baselineEd25519VerifyPerSec = rate(() => {
    nodeVerify(null, rawMessage, rawKey, rawSignature)
  })

  let i = 0
  const verifyTxPerSec = rate(() => {
    verifyTxSignature(sample[i++ % sample.length]!)
  })

  // Apply: a block of 100 install reports applied to the same base state each time (apply
  // never changes its input state, so every iteration does the full work).
  const reportBlock = builder.next(sample)
  // builder.state moved past reportBlock; apply to a replica that stands just before it.
  const before = new DevBlockBuilder(chain)
  for (const b of setup) before.next(b.block.txs)
  const applyBlockPerSec = rate(() => {
    const r = applyBlock(before.state, reportBlock.block)
    if (!r.ok) throw new Error(r.error.message)
  }, 3000)
  const decodeApplyBlockPerSec = rate(() => {
    const decoded = decodeBlock(reportBlock.block.bytes)
    if (!decoded.ok) throw new Error(decoded.error.message)
    const r = applyBlock(before.state, decoded.value)
    if (!r.ok) throw new Error(r.error.message)
  }, 3000)
  const verifyBlockSecs = TXS_PER_BLOCK / baselineEd25519VerifyPerSec

  // Store: append blocks of 100 reports (fsync'd, as in production), then reopen and verify.
  const dir = await mkdtemp(join(tmpdir(), 'fwmesh-bench-ledger-'))
  let appendBlocksPerSec = 0
  let appendBlocksPerSecNoSync = 0
  let reopenVerifyBlocksPerSec = 0
  const APPEND_BLOCKS = 300
  try {
    for (const durable of [false, true]) {
      const path = join(dir, durable ? 'durable' : 'fast')
      const opened = await LevelLedgerStore.open(path, chain.genesis, { durable })
      if (!opened.ok) throw new Error(opened.error.message)
      const store = opened.value
      const own = new DevBlockBuilder(chain)
      for (const b of setup) {
        const again = own.next(b.block.txs)
        await store.append(again.block, again.cert)
      }
      const blocks = Array.from({ length: APPEND_BLOCKS }, (_, n) => own.next(reports(n + 1)))
      const start = performance.now()
      for (const { block, cert } of blocks) {
        const r = await store.append(block, cert)
        if (!r.ok) throw new Error(r.error.message)
      }
      const perSec = (APPEND_BLOCKS * 1000) / (performance.now() - start)
      if (durable) appendBlocksPerSec = perSec
      else appendBlocksPerSecNoSync = perSec
      await store.close()
      if (durable) {
        const t0 = performance.now()
        const reopened = await LevelLedgerStore.open(path, chain.genesis)
        if (!reopened.ok) throw new Error(reopened.error.message)
        reopenVerifyBlocksPerSec = ((APPEND_BLOCKS + setup.length) * 1000) / (performance.now() - t0)
        await reopened.value.close()
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }

  const result = {
    bench: 'ledger',
    baselineEd25519VerifyPerSec: Math.round(baselineEd25519VerifyPerSec),
    verifyTxPerSec: Math.round(verifyTxPerSec),
    applyTxPerSec: Math.round(applyBlockPerSec * TXS_PER_BLOCK),
    decodeApplyTxPerSec: Math.round(decodeApplyBlockPerSec * TXS_PER_BLOCK),
    applyBlockToVerifyRatio: round(1 / applyBlockPerSec / verifyBlockSecs),
    decodeApplyBlockToVerifyRatio: round(1 / decodeApplyBlockPerSec / verifyBlockSecs),
    appendBlocksPerSec: round(appendBlocksPerSec),
    appendBlocksPerSecWithoutFsync: round(appendBlocksPerSecNoSync),
    txsPerBlock: TXS_PER_BLOCK,
    reopenVerifyBlocksPerSec: round(reopenVerifyBlocksPerSec),
    goal: 'applyBlockToVerifyRatio < 1.3',
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}
