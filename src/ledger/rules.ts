import { bytesEqual, toHex } from '../codec/bytes.js'
import { cidToString, isDagCborSha256 } from '../codec/cid.js'
import { err, ok, type Result } from '../codec/result.js'
import { MANIFEST_CHUNKS_MAX } from '../constants.js'
import { shortDid } from '../crypto/did.js'
import { manifestIdOf } from './manifest-id.js'
import { type Rejection, reject } from './rejection.js'
import { recordFailure } from './rollout-halt.js'
import { compareSemVer, parseSemVer } from './semver.js'
import { approvalKey, type LedgerState, latestKey, type ReleaseRecord, roleKey } from './state.js'
import { type SignedTx, type TxOf, verifyTxSignature } from './tx.js'

/**
 * The validation rules of the ledger (DESIGN.md §3) as a pure function. Every validator and
 * every follower runs exactly this code on every transaction, so they derive the same state.
 * A rule either refuses the transaction with a readable reason, before writing anything, or
 * writes its effects into the given draft state.
 */

/** Where a transaction is applied: the block's height and time. */
export interface ApplyContext {
  readonly height: number
  readonly time: number
}

export interface ApplyOptions {
  /**
   * Check signatures (the default). Only replay of the local, certificate-verified log may
   * skip them: every transaction in it was verified before it was appended.
   */
  readonly verifySignatures?: boolean
}

/** Applies a transaction to a new state derived from `state`; `state` itself is unchanged. */
export function apply(
  state: LedgerState,
  tx: SignedTx,
  ctx: ApplyContext,
  options: ApplyOptions = {},
): Result<LedgerState, Rejection> {
  const draft = state.derive()
  const rejection = applyInPlace(draft, tx, ctx, options)
  return rejection ? err(rejection) : ok(draft)
}

/**
 * Checks `tx` against `draft` and, when it passes, writes its effects into `draft`. Returns
 * the rejection, or undefined. A refused transaction leaves `draft` untouched.
 */
export function applyInPlace(
  draft: LedgerState,
  tx: SignedTx,
  ctx: ApplyContext,
  options: ApplyOptions = {},
): Rejection | undefined {
  const { body } = tx
  const params = draft.genesis.params
  if (body.chain !== draft.genesis.chainId) {
    return reject(
      'tx.wrong-chain',
      `the transaction is for chain "${body.chain}", not "${draft.genesis.chainId}"`,
    )
  }
  if (tx.bodyBytes.byteLength > params.txBytesMax) {
    return reject(
      'tx.too-large',
      `the transaction is ${tx.bodyBytes.byteLength} bytes, over ${params.txBytesMax}`,
    )
  }
  const seenAt = draft.txs.get(tx.idString)
  if (seenAt !== undefined) {
    return reject('tx.duplicate', `transaction ${tx.idString} was already committed at height ${seenAt}`)
  }
  if (options.verifySignatures !== false && !verifyTxSignature(tx)) {
    return reject('tx.bad-signature', 'the signature does not match the transaction and its signer')
  }
  let rejection: Rejection | undefined
  switch (body.type) {
    case 'role.grant':
      rejection = roleGrant(draft, body, ctx)
      break
    case 'role.revoke':
      rejection = roleRevoke(draft, body)
      break
    case 'device.register':
      rejection = deviceRegister(draft, body, ctx)
      break
    case 'release.publish':
      rejection = releasePublish(draft, body, tx, ctx)
      break
    case 'release.approve':
      rejection = releaseApprove(draft, body, ctx)
      break
    case 'release.revoke':
      rejection = releaseRevoke(draft, body, ctx)
      break
    case 'release.pause':
    case 'release.resume':
    case 'release.abort':
      rejection = releaseControl(draft, body, ctx)
      break
    case 'install.report':
      rejection = installReport(draft, body, ctx)
      break
    case 'device.revoke':
      rejection = deviceRevoke(draft, body)
      break
  }
  if (!rejection) draft.txs.set(tx.idString, ctx.height)
  return rejection
}

function who(key: Uint8Array): string {
  return shortDid(key)
}

/** A signer the ledger has never heard of gets its own code, before any role check. */
function unknownSigner(state: LedgerState, signer: Uint8Array): Rejection | undefined {
  if (state.isAdmin(signer) || state.hasAnyRole(signer) || state.device(signer)) return undefined
  return reject(
    'signer.unknown',
    `${who(signer)} is not an admin, holds no role and is not a registered device`,
  )
}

function roleGrant(state: LedgerState, body: TxOf<'role.grant'>, ctx: ApplyContext): Rejection | undefined {
  if (!state.isAdmin(body.signer)) {
    return (
      unknownSigner(state, body.signer) ??
      reject('role.not-admin', `${who(body.signer)} is not an admin; only admins grant roles`)
    )
  }
  if (body.role === 'publisher' && !body.products) {
    return reject('role.products-required', 'a publisher role must name the products it may publish (or "*")')
  }
  if (body.role !== 'publisher' && body.products) {
    return reject('role.products-unexpected', `the ${body.role} role is not scoped to products`)
  }
  state.roles.set(roleKey(body.role, body.subject), {
    role: body.role,
    subject: body.subject,
    products: body.products ?? null,
    grantedAt: ctx.height,
  })
  return undefined
}

function roleRevoke(state: LedgerState, body: TxOf<'role.revoke'>): Rejection | undefined {
  if (!state.isAdmin(body.signer)) {
    return (
      unknownSigner(state, body.signer) ??
      reject('role.not-admin', `${who(body.signer)} is not an admin; only admins revoke roles`)
    )
  }
  const key = roleKey(body.role, body.subject)
  if (!state.roles.has(key))
    return reject('role.not-held', `${who(body.subject)} does not hold the ${body.role} role`)
  state.roles.delete(key)
  return undefined
}

function deviceRegister(
  state: LedgerState,
  body: TxOf<'device.register'>,
  ctx: ApplyContext,
): Rejection | undefined {
  if (!state.isAdmin(body.signer) && !state.role('registrar', body.signer)) {
    return (
      unknownSigner(state, body.signer) ??
      reject('device.not-registrar', `${who(body.signer)} is not a registrar`)
    )
  }
  if (state.device(body.device)) {
    return reject('device.already-registered', `device ${who(body.device)} is already registered`)
  }
  state.devices.set(toHex(body.device), {
    publicKey: body.device,
    product: body.product,
    hardware: body.hardware,
    groups: body.groups,
    registeredAt: ctx.height,
    installed: null,
  })
  return undefined
}

/**
 * A registrar (or admin) revokes a device: a lost, stolen or retired unit. Its record goes, so
 * its install reports are refused from then on and rollouts no longer count it; its history
 * stays in the audit index, and it can be registered again (a unit back from repair).
 */
function deviceRevoke(state: LedgerState, body: TxOf<'device.revoke'>): Rejection | undefined {
  if (!state.isAdmin(body.signer) && !state.role('registrar', body.signer)) {
    return (
      unknownSigner(state, body.signer) ??
      reject('device.not-registrar', `${who(body.signer)} is not a registrar`)
    )
  }
  if (!state.device(body.device)) {
    return reject('device.not-registered', `device ${who(body.device)} is not registered`)
  }
  state.devices.delete(toHex(body.device))
  return undefined
}

function checkRollout(body: TxOf<'release.publish'>): Rejection | undefined {
  let previous = { percent: 0, afterMs: 0 }
  for (const [i, wave] of body.rollout.waves.entries()) {
    // The schema bounds it too; the rule keeps the meaning next to the other wave checks.
    if (wave.maxFailurePercent !== undefined && wave.maxFailurePercent > 100) {
      return reject('publish.bad-rollout', `rollout wave ${i} has a failure threshold over 100 %`)
    }
    if (wave.percent < previous.percent || wave.afterMs < previous.afterMs) {
      return reject(
        'publish.bad-rollout',
        `rollout wave ${i} goes backwards: percentages and start offsets must not decrease`,
      )
    }
    // A device computes when a wave opens as start + afterMs (src/agent/rollout.ts); past
    // 2^53 that sum is not exact, and the wave would open at no time anyone meant.
    if (!Number.isSafeInteger(body.rollout.start + wave.afterMs)) {
      return reject('publish.bad-rollout', `rollout wave ${i} opens past the largest time a device can count`)
    }
    previous = wave
  }
  return undefined
}

/** The lowest semantic version: nothing precedes it, so no device runs a version it is newer than. */
const LOWEST_VERSION = parseSemVer('0.0.0-0')!

/**
 * What a conforming device checks of a release's image fields before any byte is fetched
 * (src/transfer/manifest.ts, src/node/transfer-service.ts): a manifest id it can check a
 * manifest's header against (CIDv1, dag-cbor, sha2-256), an image that fits one manifest (at
 * most MANIFEST_CHUNKS_MAX chunks), and a manifest whose header is the release's image fields.
 * The manifest is not on the ledger, but its id is derived from those fields (manifest-id.ts):
 * the id a release names must be the one its fields make, so a release never pairs one image's
 * manifest with another image's fields (mix-and-match).
 */
function checkImageFields(body: TxOf<'release.publish'>, imageBytesMax: number): Rejection | undefined {
  if (!isDagCborSha256(body.manifest)) {
    return reject(
      'publish.bad-manifest',
      `the manifest id ${cidToString(body.manifest)} is not a CIDv1 of DAG-CBOR with a SHA-256 digest, the only kind a device can check a manifest against`,
    )
  }
  if (body.imageSize > imageBytesMax) {
    return reject(
      'publish.too-large',
      `the image is ${body.imageSize} bytes, over this chain's ${imageBytesMax}`,
    )
  }
  const chunkCount = Math.ceil(body.imageSize / body.chunkSize)
  if (chunkCount < 1) return reject('publish.bad-chunking', 'the image has no chunks')
  if (chunkCount > MANIFEST_CHUNKS_MAX) {
    return reject(
      'publish.bad-chunking',
      `${body.imageSize} bytes in chunks of ${body.chunkSize} is ${chunkCount} chunks, over the ${MANIFEST_CHUNKS_MAX} a manifest may list: use chunks of at least ${Math.ceil(body.imageSize / MANIFEST_CHUNKS_MAX)} bytes`,
    )
  }
  const derived = manifestIdOf(body)
  if (!derived.equals(body.manifest)) {
    return reject(
      'publish.manifest-mismatch',
      `the release names manifest ${cidToString(body.manifest)}, but its image size, chunk size, image SHA-256 and chunk-hash digest make manifest ${cidToString(derived)}: the release's fields are not its manifest's`,
    )
  }
  return undefined
}

function releasePublish(
  state: LedgerState,
  body: TxOf<'release.publish'>,
  tx: SignedTx,
  ctx: ApplyContext,
): Rejection | undefined {
  const role = state.role('publisher', body.signer)
  if (!role) {
    return (
      unknownSigner(state, body.signer) ??
      reject('publish.not-publisher', `${who(body.signer)} is not a publisher`)
    )
  }
  const scope = role.products ?? []
  if (!scope.includes('*') && !scope.includes(body.product)) {
    return reject('publish.out-of-scope', `${who(body.signer)} may not publish for product "${body.product}"`)
  }
  const version = parseSemVer(body.version)
  if (!version)
    return reject('publish.bad-version', `"${body.version}" is not a semantic version (like 1.4.2)`)
  if (compareSemVer(version, LOWEST_VERSION) <= 0) {
    return reject(
      'publish.bad-version',
      `${body.version} is the lowest version there is: no device runs an older one, so none would install it`,
    )
  }
  if (body.hardware.length === 0) {
    return reject('publish.empty-hardware', 'a release must name at least one hardware model')
  }
  if (new Set(body.hardware).size !== body.hardware.length) {
    return reject('publish.duplicate-hardware', 'the hardware list names a model twice')
  }
  const imageRejection = checkImageFields(body, state.genesis.params.imageBytesMax)
  if (imageRejection) return imageRejection
  if (body.minFrom !== undefined) {
    const minFrom = parseSemVer(body.minFrom)
    if (!minFrom || compareSemVer(minFrom, version) >= 0) {
      return reject(
        'publish.bad-min-from',
        `minFrom "${body.minFrom}" must be a version older than ${body.version}`,
      )
    }
  }
  const rolloutRejection = checkRollout(body)
  if (rolloutRejection) return rolloutRejection
  const lk = latestKey(body.product, body.channel)
  const latest = state.latest.get(lk)
  if (latest !== undefined && compareSemVer(version, parseSemVer(latest)!) <= 0) {
    return reject(
      'publish.not-newer',
      `version ${body.version} is not newer than ${latest}, the latest of ${body.product} on channel ${body.channel}`,
    )
  }
  state.latest.set(lk, body.version)
  const record: ReleaseRecord = {
    id: tx.idString,
    product: body.product,
    channel: body.channel,
    version: body.version,
    hardware: body.hardware,
    imageSize: body.imageSize,
    imageSha256: body.imageSha256,
    manifest: cidToString(body.manifest),
    chunkSize: body.chunkSize,
    rollout: body.rollout,
    minFrom: body.minFrom ?? null,
    ...(body.tags !== undefined && body.tags.length > 0 ? { tags: body.tags } : {}),
    publisher: body.signer,
    publishedAt: ctx.height,
    publishedTime: ctx.time,
    approvals: 0,
    approvedAt: null,
    revoked: null,
  }
  state.releases.set(record.id, record)
  return undefined
}

function releaseApprove(
  state: LedgerState,
  body: TxOf<'release.approve'>,
  ctx: ApplyContext,
): Rejection | undefined {
  if (!state.role('approver', body.signer)) {
    return (
      unknownSigner(state, body.signer) ??
      reject('approve.not-approver', `${who(body.signer)} is not an approver`)
    )
  }
  const id = cidToString(body.release)
  const release = state.release(id)
  if (!release) return reject('approve.unknown-release', `no release ${id} on the ledger`)
  if (release.revoked)
    return reject('approve.revoked', `release ${release.product} ${release.version} was revoked`)
  if (bytesEqual(release.publisher, body.signer)) {
    return reject('approve.self-approval', 'the publisher of a release may not approve it (four-eyes rule)')
  }
  const key = approvalKey(id, body.signer)
  if (state.approvals.has(key)) {
    return reject(
      'approve.duplicate',
      `${who(body.signer)} already approved ${release.product} ${release.version}`,
    )
  }
  state.approvals.set(key, ctx.height)
  const approvals = release.approvals + 1
  const reached = release.approvedAt === null && approvals >= state.genesis.approvalThreshold
  state.releases.set(id, { ...release, approvals, approvedAt: reached ? ctx.height : release.approvedAt })
  return undefined
}

function releaseRevoke(
  state: LedgerState,
  body: TxOf<'release.revoke'>,
  ctx: ApplyContext,
): Rejection | undefined {
  const id = cidToString(body.release)
  const release = state.release(id)
  const publisher = state.role('publisher', body.signer)
  const scoped = publisher?.products?.includes('*') || publisher?.products?.includes(release?.product ?? '')
  if (!state.isAdmin(body.signer) && !scoped) {
    return (
      unknownSigner(state, body.signer) ??
      reject(
        'revoke.not-authorized',
        `${who(body.signer)} is neither an admin nor a publisher of this product`,
      )
    )
  }
  if (!release) return reject('revoke.unknown-release', `no release ${id} on the ledger`)
  if (release.revoked) {
    return reject(
      'revoke.already-revoked',
      `release ${release.product} ${release.version} is already revoked`,
    )
  }
  state.releases.set(id, {
    ...release,
    revoked: { height: ctx.height, time: ctx.time, by: body.signer, reason: body.reason },
  })
  return undefined
}

/** A record without one of its optional control fields (absent, not undefined: see state.ts). */
function withoutPauseOrHalt(release: ReleaseRecord): ReleaseRecord {
  const { paused: _paused, halted: _halted, ...rest } = release
  return rest
}

/**
 * `release.pause`, `release.resume` and `release.abort`. Who may: an admin, or a publisher
 * scoped to the release's product (the same keys that may revoke it), except that only an
 * admin clears a halt: the rollout stopped itself on failures, and resuming it past them is
 * a fleet-wide decision. A revoked or aborted release is final.
 */
function releaseControl(
  state: LedgerState,
  body: TxOf<'release.pause' | 'release.resume' | 'release.abort'>,
  ctx: ApplyContext,
): Rejection | undefined {
  const id = cidToString(body.release)
  const release = state.release(id)
  const admin = state.isAdmin(body.signer)
  const publisher = state.role('publisher', body.signer)
  const scoped = publisher?.products?.includes('*') || publisher?.products?.includes(release?.product ?? '')
  if (!admin && !scoped) {
    return (
      unknownSigner(state, body.signer) ??
      reject(
        'control.not-authorized',
        `${who(body.signer)} is neither an admin nor a publisher of this product`,
      )
    )
  }
  if (!release) return reject('control.unknown-release', `no release ${id} on the ledger`)
  const name = `release ${release.product} ${release.version}`
  if (release.revoked) return reject('control.final', `${name} was revoked`)
  if (release.aborted) return reject('control.final', `${name} was aborted`)
  const event = { height: ctx.height, time: ctx.time, by: body.signer, reason: body.reason }
  switch (body.type) {
    case 'release.pause':
      if (release.paused) return reject('control.already-paused', `${name} is already paused`)
      state.releases.set(id, { ...release, paused: event })
      return undefined
    case 'release.abort':
      state.releases.set(id, { ...release, aborted: event })
      return undefined
    case 'release.resume':
      if (!release.paused && !release.halted)
        return reject('control.not-paused', `${name} is neither paused nor halted`)
      if (release.halted && !admin) {
        return reject(
          'control.halt-needs-admin',
          `${name} was halted by its failure threshold; only an admin resumes it`,
        )
      }
      state.releases.set(id, withoutPauseOrHalt(release))
      return undefined
  }
}

function installReport(
  state: LedgerState,
  body: TxOf<'install.report'>,
  ctx: ApplyContext,
): Rejection | undefined {
  const device = state.device(body.device)
  if (!device) return reject('report.unregistered-device', `device ${who(body.device)} is not registered`)
  if (!bytesEqual(body.signer, body.device)) {
    return reject('report.wrong-signer', 'an install report must be signed by the device it is about')
  }
  const id = cidToString(body.release)
  const release = state.release(id)
  if (!release) return reject('report.unknown-release', `no release ${id} on the ledger`)
  if (release.product !== device.product) {
    return reject(
      'report.wrong-product',
      `the release is for ${release.product}, the device is a ${device.product}`,
    )
  }
  if (body.status === 'confirmed' && !bytesEqual(body.imageSha256, release.imageSha256)) {
    return reject('report.hash-mismatch', 'the reported image hash is not the release image hash')
  }
  const running = body.running
  if (body.status === 'confirmed' && running !== undefined && running !== release.version) {
    return reject('report.running-mismatch', `a confirmed report of ${release.version} says ${running} runs`)
  }
  if (body.status === 'rolled-back' && running === release.version) {
    return reject('report.running-mismatch', `a rolled-back report of ${release.version} says it runs`)
  }
  // The installed version on the ledger is the one the device runs: it moves on a confirmation,
  // and back to whatever runs after a rollback, never on an install the device has not booted.
  if (body.status === 'confirmed') {
    state.devices.set(toHex(body.device), {
      ...device,
      installed: { release: id, version: release.version, height: ctx.height },
    })
  } else if (
    body.status === 'rolled-back' &&
    running !== undefined &&
    running !== device.installed?.version
  ) {
    state.devices.set(toHex(body.device), { ...device, installed: { version: running, height: ctx.height } })
  }
  if (body.status === 'failed' || body.status === 'rolled-back') {
    recordFailure(state, release, state.device(body.device) ?? device, ctx)
  }
  return undefined
}
