import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { KeyPair } from '../../src/crypto/ed25519.js'
import type { DevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import type { SignedTx } from '../../src/ledger/tx.js'
import type { DeviceConfig } from '../../src/node/config.js'
import type { Node } from '../../src/node/daemon.js'
import { chunkImageFile } from '../../src/node/store/image-chunker.js'
import { Prng } from '../../src/prng.js'

const ROOT = join(import.meta.dirname, '..', '..')

/** A seeded random image file, chunked: what a publisher would release. */
export async function makeImage(dir: string, name: string, bytes: number, seed: string) {
  const path = join(dir, name)
  await writeFile(path, Prng.fromSeed(seed).bytes(bytes))
  const chunked = await chunkImageFile(path)
  if (!chunked.ok) throw new Error(chunked.error.message)
  return { path, manifest: chunked.value.manifest, cid: chunked.value.cid, encoded: chunked.value.encoded }
}

/** A device section for a test node: examples/hooks/script.sh into its own directory. */
export function deviceConfig(installDir: string, product = 'gw', hardware = 'rev-a'): DeviceConfig {
  return {
    product,
    hardware,
    channel: 'stable',
    installCommand: [join(ROOT, 'examples/hooks/script.sh')],
    installTimeoutMs: 30_000,
    maintenanceWindow: null,
    versionFile: join(installDir, 'version'),
    initialVersion: '0.1.0',
    installEnv: { FWMESH_INSTALL_DIR: installDir },
    // The version file decides the confirm step: script.sh writes it, and it is what runs.
    confirmCommand: null,
    confirmTimeoutMs: 30_000,
    bootIdFile: join(installDir, '..', 'boot-id'),
  }
}

/** The publish transaction of an image, from the chain's publisher. */
export function publishTx(
  f: TxFactory,
  image: Awaited<ReturnType<typeof makeImage>>,
  version: string,
  options: { hardware?: string[]; by?: KeyPair } = {},
): SignedTx {
  return f.publish(
    {
      product: 'gw',
      version,
      hardware: options.hardware ?? ['rev-a'],
      imageSize: image.manifest.imageSize,
      imageSha256: image.manifest.imageSha256,
      chunkHashesSha256: image.manifest.chunkHashesSha256,
      manifest: image.cid,
      chunkSize: image.manifest.chunkSize,
    },
    options.by,
  )
}

/** Submits transactions to a node and waits for each to commit. */
export async function commitAll(node: Node, txs: readonly SignedTx[], timeoutMs = 20_000): Promise<void> {
  for (const tx of txs) {
    const outcome = node.ledger.submit(tx, 'local')
    if (outcome.status === 'rejected')
      throw new Error(`${tx.body.type} refused: ${outcome.rejection.message}`)
    if (outcome.status === 'pending') await node.gossip.publishTx(tx)
    const final =
      outcome.status === 'committed' ? outcome : await node.ledger.waitForCommit(tx.idString, timeoutMs)
    if (final.status !== 'committed') throw new Error(`${tx.body.type} did not commit`)
  }
}

export type { DevChain }
