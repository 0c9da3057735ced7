/**
 * Attacks the ledger's rules refuse, tried as an operator (or a thief of one's key) would:
 * arbitrary software, rollback, threshold, wrong hardware, a release mixing one image's
 * manifest with another's fields, and the replay of a committed transaction. Operator actions
 * go through the CLI; a transaction the CLI would never build is signed here and submitted
 * through the node's API.
 */

import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { type DevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import { assembleTx } from '../../src/ledger/tx.js'
import { chunkImageFile } from '../../src/node/store/image-chunker.js'
import { fleet } from '../fleet.js'
import {
  approve,
  approverKey,
  blocksPass,
  CHAIN,
  downloadOf,
  HARDWARE,
  installedVersions,
  keyFile,
  type Mesh,
  makeImage,
  type Outcome,
  PRODUCT,
  publish,
  sign,
  submitCode,
} from './mesh.js'

/** Blocks to wait before saying a device did not act on a release: a few agent ticks. */
const QUIET_BLOCKS = 4

/** Whether no device has a download of `manifest` and every one still runs `version`. */
async function untouched(
  mesh: Mesh,
  manifest: string,
  version: string,
): Promise<{ ok: boolean; seen: string }> {
  await blocksPass(mesh.validators[0]!, QUIET_BLOCKS)
  const rows = await Promise.all(mesh.devices.map((d) => downloadOf(d, manifest)))
  const versions = await installedVersions(mesh)
  const downloads = rows.filter((r) => r !== undefined).length
  return {
    ok: downloads === 0 && versions.every((v) => v === version),
    seen: `${downloads} devices downloading it, versions ${versions.join('/')}`,
  }
}

export async function arbitrarySoftware(mesh: Mesh): Promise<Outcome> {
  const origin = mesh.validators[0]!
  const image = await makeImage('arbitrary.img', 'arbitrary')
  const strangerKey = await keyFile('stranger', mesh.stranger)
  const byStranger = await publish(origin, image.path, '9.0.0', { key: strangerKey })
  const strangerCode = String(byStranger.json?.code ?? `exit ${byStranger.code}`)
  // The publisher's own fields, signed by nobody: 64 random bytes in place of a signature.
  const chunked = await chunkImageFile(image.path)
  if (!chunked.ok) throw new Error(chunked.error.message)
  const honest = sign(mesh.ops.publisher, {
    type: 'release.publish',
    product: PRODUCT,
    channel: 'stable',
    version: '9.0.1',
    hardware: [HARDWARE],
    imageSize: chunked.value.manifest.imageSize,
    chunkSize: chunked.value.manifest.chunkSize,
    manifest: chunked.value.cid,
    imageSha256: chunked.value.manifest.imageSha256,
    chunkHashesSha256: chunked.value.manifest.chunkHashesSha256,
    rollout: { start: Date.now(), waves: [{ percent: 100, afterMs: 0 }] },
  })
  const forged = assembleTx(honest.body, new Uint8Array(randomBytes(64)))
  const forgedCode = await submitCode(mesh.validators[1]!, forged)
  const after = await untouched(mesh, 'none', mesh.latest)
  const refusedStranger =
    byStranger.code === 4 && ['signer.unknown', 'publish.not-publisher'].includes(strangerCode)
  return {
    attack: 'arbitrary software',
    tried:
      'publish 9.0.0 with a key holding no publisher role (CLI); a release.publish with the publisher as signer and a forged signature (API)',
    outcome: `CLI exit ${byStranger.code} ${strangerCode}; forged signature: ${forgedCode}; ${after.seen}`,
    rejected: refusedStranger && forgedCode === 'tx.bad-signature' && after.ok,
    badInstall: !after.ok,
  }
}

export async function rollback(mesh: Mesh): Promise<Outcome> {
  const origin = mesh.validators[0]!
  const image = await makeImage('rollback.img', 'rollback')
  const older = await publish(origin, image.path, '1.0.5')
  const same = await publish(origin, image.path, mesh.latest)
  const codes = [older, same].map((r) => `exit ${r.code} ${String(r.json?.code ?? '')}`)
  const after = await untouched(mesh, 'none', mesh.latest)
  return {
    attack: 'rollback',
    tried: `publish 1.0.5 and ${mesh.latest} (the installed version) after ${mesh.latest} (CLI)`,
    outcome: `${codes.join('; ')}; ${after.seen}`,
    rejected: [older, same].every((r) => r.code === 4 && r.json?.code === 'publish.not-newer') && after.ok,
    badInstall: !after.ok,
  }
}

export async function threshold(mesh: Mesh): Promise<Outcome> {
  const origin = mesh.validators[0]!
  const image = await makeImage('threshold.img', 'threshold')
  const published = await publish(origin, image.path, '1.2.0')
  if (published.code !== 0) throw new Error(`threshold: publish failed ${published.stdout}`)
  const release = String(published.json?.release)
  const manifest = String(published.json?.manifest)
  const first = await approve(origin, release, approverKey(0))
  const byAdmin = await approve(origin, release, join(fleet.dir, 'admin.key'))
  const twice = await approve(origin, release, approverKey(0))
  const after = await untouched(mesh, manifest, mesh.latest)
  const codes = {
    first: first.code,
    nonApprover: `exit ${byAdmin.code} ${String(byAdmin.json?.code ?? '')}`,
    twice: `exit ${twice.code} ${String(twice.json?.code ?? '')}`,
  }
  return {
    attack: 'threshold',
    tried:
      'publish 1.2.0, one approval of 2; approve with the admin key (no approver role); the same approver again (CLI)',
    outcome: `1 approval: ${after.seen}; non-approver: ${codes.nonApprover}; same approver twice: ${codes.twice}`,
    rejected:
      first.code === 0 &&
      after.ok &&
      byAdmin.code === 4 &&
      byAdmin.json?.code === 'approve.not-approver' &&
      twice.code === 4 &&
      twice.json?.code === 'approve.duplicate',
    badInstall: !after.ok,
  }
}

export async function wrongHardware(mesh: Mesh): Promise<Outcome> {
  const origin = mesh.validators[0]!
  const image = await makeImage('hardware.img', 'hardware')
  const published = await publish(origin, image.path, '1.3.0', { hardware: 'rev-z' })
  if (published.code !== 0) throw new Error(`wrong hardware: publish failed ${published.stdout}`)
  const release = String(published.json?.release)
  const approvals = [
    await approve(origin, release, approverKey(0)),
    await approve(origin, release, approverKey(1)),
  ]
  const after = await untouched(mesh, String(published.json?.manifest), mesh.latest)
  return {
    attack: 'wrong hardware',
    tried: `publish 1.3.0 for hardware rev-z, approved twice (devices are ${HARDWARE})`,
    outcome: `approvals exit ${approvals.map((a) => a.code).join(',')}; ${after.seen}`,
    rejected: approvals.every((a) => a.code === 0) && after.ok,
    badInstall: !after.ok,
  }
}

/**
 * A release whose manifest CID is image A's while its size and hashes are image B's. Built
 * with the test helpers' TxFactory.publish, so fields the release gains flow in; submitted to
 * a validator that does not hold the manifest (the origin, which does, refuses it on its own),
 * on a channel no device follows.
 */
export async function mixedManifest(mesh: Mesh): Promise<Outcome> {
  const a = await makeImage('mix-a.img', 'mix-a')
  const b = await makeImage('mix-b.img', 'mix-b', 3 * 1024 * 1024)
  const chunkedA = await chunkImageFile(a.path)
  const chunkedB = await chunkImageFile(b.path)
  if (!chunkedA.ok || !chunkedB.ok) throw new Error('mix-and-match: chunking failed')
  const factory = new TxFactory({
    genesis: { chainId: CHAIN, time: Date.now() },
    publisher: mesh.ops.publisher,
  } as unknown as DevChain)
  const fieldsOf = (m: typeof chunkedB.value.manifest) => ({
    ...m,
    product: PRODUCT,
    channel: 'mix',
    version: '1.0.0',
    hardware: [HARDWARE],
  })
  const tx = factory.publish({ ...fieldsOf(chunkedB.value.manifest), manifest: chunkedA.value.cid })
  const code = await submitCode(mesh.validators[1]!, tx)
  return {
    attack: 'mix-and-match (ledger)',
    tried:
      'release.publish by the publisher: manifest CID of image A, imageSize/imageSha256 of image B (API, validator-1)',
    outcome:
      code === 'publish.manifest-mismatch' ? `refused: ${code}` : `${code} (want publish.manifest-mismatch)`,
    rejected: code === 'publish.manifest-mismatch',
  }
}

/**
 * A committed transaction submitted again. The node answers a known id as committed at its
 * original height (submission is idempotent, so a client may retry) and applies nothing: a
 * replay is refused when that is the answer, or a rejection such as tx.duplicate.
 */
export async function replayTx(mesh: Mesh): Promise<Outcome> {
  const { tx, height } = mesh.committed[0]!
  const codes = await Promise.all(mesh.validators.slice(0, 2).map((v) => submitCode(v, tx, 2_000)))
  const devices = await mesh.validators[0]!.api.devices()
  return {
    attack: 'replay (tx)',
    tried: `resubmit the ${tx.body.type} committed at height ${height} to two validators (API)`,
    outcome: `${codes.join(', ')} (not applied again: ${devices.length} devices registered)`,
    rejected: codes.every((c) => c === 'tx.duplicate' || c === `committed@${height}`),
  }
}
