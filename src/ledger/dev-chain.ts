import type { CID } from '../codec/cid.js'
import { type KeyPair, keyPairFromSeed } from '../crypto/ed25519.js'
import { Prng } from '../prng.js'
import type { Block } from './block.js'
import { type Certificate, certify } from './certificate.js'
import { type ChainParams, DEFAULT_CHAIN_PARAMS, type Genesis } from './genesis.js'
import { manifestIdOf } from './manifest-id.js'
import { LedgerState } from './state.js'
import { type ReportStatus, type Role, type RolloutPlan, type SignedTx, signTx, type TxBody } from './tx.js'
import { buildBlock } from './verify-block.js'

/**
 * A whole chain made from one seed: genesis, validator keys, an admin, a publisher, approvers
 * and a registrar, with helpers that sign transactions. Tests, the simulator, benchmarks and
 * the demo share it, so a seed names the same keys everywhere. Never for production keys.
 */
export interface DevChain {
  readonly genesis: Genesis
  readonly validators: readonly KeyPair[]
  readonly admin: KeyPair
  readonly publisher: KeyPair
  readonly approvers: readonly KeyPair[]
  readonly registrar: KeyPair
  /** Seeded keys for any other purpose (devices, outsiders), stable per label. */
  key(label: string): KeyPair
}

export interface DevChainOptions {
  readonly seed?: number | string
  readonly validators?: number
  readonly approvers?: number
  readonly approvalThreshold?: number
  readonly chainId?: string
  readonly time?: number
  readonly params?: Partial<ChainParams>
}

export function makeDevChain(options: DevChainOptions = {}): DevChain {
  const prng = Prng.fromSeed(options.seed ?? 'dev')
  const key = (label: string) => keyPairFromSeed(prng.child(`key/${label}`).bytes(32))
  const validators = Array.from({ length: options.validators ?? 4 }, (_, i) => key(`validator/${i}`))
  const approvers = Array.from({ length: options.approvers ?? 2 }, (_, i) => key(`approver/${i}`))
  const admin = key('admin')
  const genesis: Genesis = {
    chainId: options.chainId ?? 'fwmesh-dev',
    time: options.time ?? 1_767_225_600_000, // 2026-01-01T00:00:00Z
    validators: validators.map((v, i) => ({ name: `validator-${i}`, publicKey: v.publicKey })),
    admins: [admin.publicKey],
    approvalThreshold: options.approvalThreshold ?? Math.min(2, approvers.length || 1),
    params: { ...DEFAULT_CHAIN_PARAMS, ...options.params },
  }
  return {
    genesis,
    validators,
    admin,
    publisher: key('publisher'),
    approvers,
    registrar: key('registrar'),
    key,
  }
}

/** Everything a release.publish needs besides who signs it. */
export interface PublishFields {
  readonly product: string
  readonly version: string
  readonly hardware: readonly string[]
  readonly imageSize: number
  readonly imageSha256: Uint8Array
  /**
   * The digest of the image's chunk hashes (manifest-id.ts); by default 32 zero bytes, for a
   * release whose chunks no test fetches.
   */
  readonly chunkHashesSha256?: Uint8Array
  /** By default the id the other fields make; another id is for tests of mix-and-match. */
  readonly manifest?: CID
  readonly channel?: string
  readonly chunkSize?: number
  readonly rollout?: RolloutPlan
  readonly minFrom?: string
  /** Device tags the release targets (a device's `groups`). */
  readonly tags?: readonly string[]
}

/**
 * Signs transactions for a dev chain. Nonces count up per factory, so two calls with equal
 * fields still make two distinct transactions.
 */
export class TxFactory {
  private nonce = 0

  constructor(private readonly chain: DevChain) {}

  private sign(keys: KeyPair, fields: Record<string, unknown>): SignedTx {
    const body = { ...fields, chain: this.chain.genesis.chainId, signer: keys.publicKey, nonce: this.nonce++ }
    return signTx(body as TxBody, keys)
  }

  grantRole(
    subject: Uint8Array,
    role: Role,
    products?: readonly string[],
    by: KeyPair = this.chain.admin,
  ): SignedTx {
    return this.sign(by, {
      type: 'role.grant',
      subject,
      role,
      ...(products ? { products: [...products] } : {}),
    })
  }

  revokeRole(subject: Uint8Array, role: Role, by: KeyPair = this.chain.admin): SignedTx {
    return this.sign(by, { type: 'role.revoke', subject, role })
  }

  /** The role grants that make the chain's publisher (all products), approvers and registrar. */
  bootstrap(): SignedTx[] {
    return [
      this.grantRole(this.chain.publisher.publicKey, 'publisher', ['*']),
      ...this.chain.approvers.map((a) => this.grantRole(a.publicKey, 'approver')),
      this.grantRole(this.chain.registrar.publicKey, 'registrar'),
    ]
  }

  registerDevice(
    device: Uint8Array,
    product: string,
    hardware: string,
    groups: readonly string[] = [],
    by: KeyPair = this.chain.registrar,
  ): SignedTx {
    return this.sign(by, { type: 'device.register', device, product, hardware, groups: [...groups] })
  }
  revokeDevice(device: Uint8Array, reason: string, by: KeyPair = this.chain.registrar): SignedTx {
    return this.sign(by, { type: 'device.revoke', device, reason })
  }

  publish(fields: PublishFields, by: KeyPair = this.chain.publisher): SignedTx {
    const image = {
      imageSize: fields.imageSize,
      chunkSize: fields.chunkSize ?? 256 * 1024,
      imageSha256: fields.imageSha256,
      chunkHashesSha256: fields.chunkHashesSha256 ?? new Uint8Array(32),
    }
    return this.sign(by, {
      type: 'release.publish',
      product: fields.product,
      channel: fields.channel ?? 'stable',
      version: fields.version,
      hardware: [...fields.hardware],
      ...image,
      manifest: fields.manifest ?? manifestIdOf(image),
      rollout: fields.rollout ?? { start: this.chain.genesis.time, waves: [{ percent: 100, afterMs: 0 }] },
      ...(fields.minFrom ? { minFrom: fields.minFrom } : {}),
      ...(fields.tags ? { tags: [...fields.tags] } : {}),
    })
  }

  approve(release: CID, by: KeyPair): SignedTx {
    return this.sign(by, { type: 'release.approve', release })
  }

  revoke(release: CID, reason: string, by: KeyPair = this.chain.publisher): SignedTx {
    return this.sign(by, { type: 'release.revoke', release, reason })
  }

  /** `release.pause`, `release.resume` or `release.abort`, by the publisher unless told. */
  control(
    type: 'release.pause' | 'release.resume' | 'release.abort',
    release: CID,
    reason: string,
    by: KeyPair = this.chain.publisher,
  ): SignedTx {
    return this.sign(by, { type, release, reason })
  }

  report(
    device: KeyPair,
    release: CID,
    status: ReportStatus,
    imageSha256: Uint8Array,
    time: number,
    detail?: string,
    running?: string,
  ): SignedTx {
    return this.sign(device, {
      type: 'install.report',
      release,
      device: device.publicKey,
      status,
      imageSha256,
      time,
      ...(detail !== undefined ? { detail } : {}),
      ...(running !== undefined ? { running } : {}),
    })
  }
}

/**
 * Builds certified blocks on top of a state, as a committee would: each block is applied to
 * the builder's own state and signed by a quorum of the dev chain's validators. For tests,
 * benchmarks and the simulator's fixtures.
 */
export class DevBlockBuilder {
  readonly state: LedgerState
  private readonly signers: ReadonlyMap<number, Uint8Array>

  constructor(
    private readonly chain: DevChain,
    options: { signers?: number } = {},
  ) {
    this.state = new LedgerState(chain.genesis)
    const count = options.signers ?? chain.validators.length - Math.floor((chain.validators.length - 1) / 3)
    this.signers = new Map(chain.validators.slice(0, count).map((v, i) => [i, v.secretKey]))
  }

  /** The next block over `txs`, certified; the builder's state moves past it. */
  next(txs: readonly SignedTx[], timeStepMs = 1000): { block: Block; cert: Certificate } {
    const head = this.state.head
    const height = head.height + 1
    const built = buildBlock(
      this.state,
      {
        chain: this.chain.genesis.chainId,
        height,
        prev: this.lastHash,
        time: head.time + timeStepMs,
        proposer: height % this.chain.validators.length,
      },
      txs,
    )
    if (!built.ok) throw new RangeError(`DevBlockBuilder: ${built.error.message}`)
    const { block } = built.value
    built.value.state.mergeIntoParent()
    this.lastHash = block.hash
    return { block, cert: certify(this.chain.genesis, this.signers, height, 0, block.hash) }
  }

  private lastHash: CID | null = null
}
