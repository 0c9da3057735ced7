import { expect } from 'vitest'
import {
  type AgentBoot,
  type AgentConfig,
  type AgentOutput,
  type ConfirmOutcome,
  DeviceAgent,
  type LedgerView,
  ledgerView,
  type MaintenanceWindow,
} from '../../src/agent/index.js'
import { utf8 } from '../../src/codec/bytes.js'
import { parseCid } from '../../src/codec/cid.js'
import { sha256 } from '../../src/codec/hash.js'
import type { KeyPair } from '../../src/crypto/ed25519.js'
import { type DevChain, makeDevChain, type PublishFields, TxFactory } from '../../src/ledger/dev-chain.js'
import { apply } from '../../src/ledger/rules.js'
import { LedgerState, type ReleaseRecord } from '../../src/ledger/state.js'
import type { RolloutPlan, SignedTx } from '../../src/ledger/tx.js'

/** 2026-01-01T00:00:00Z, a Thursday: the dev chain's genesis time. */
export const T0 = 1_767_225_600_000
export const MINUTE = 60_000
export const HOUR = 60 * MINUTE
export const DAY = 24 * HOUR

/** The image hash a test release of `version` commits to. */
export function imageHash(version: string): Uint8Array {
  return sha256(utf8(`image ${version}`))
}

export interface ReleaseOptions {
  readonly version: string
  readonly product?: string
  readonly channel?: string
  readonly hardware?: readonly string[]
  readonly minFrom?: string
  readonly rollout?: RolloutPlan
  /** Approve it (the default) so it is installable. */
  readonly approve?: boolean
}

/**
 * A real ledger: the dev chain's roles, one registered device (a `gw` on `rev-b` boards), and
 * helpers that sign and apply publish, approve and revoke transactions through the rules.
 */
export class World {
  readonly chain: DevChain
  readonly txs: TxFactory
  readonly device: KeyPair
  state: LedgerState
  private height = 0
  private readonly versions = new Map<string, string>()

  constructor(seed = 'agent', deviceLabel = 'device') {
    this.chain = makeDevChain({ seed })
    this.txs = new TxFactory(this.chain)
    this.device = this.chain.key(deviceLabel)
    this.state = new LedgerState(this.chain.genesis)
    for (const tx of this.txs.bootstrap()) this.commit(tx)
    this.commit(this.txs.registerDevice(this.device.publicKey, 'gw', 'rev-b'))
  }

  commit(tx: SignedTx): void {
    this.height++
    const r = apply(this.state, tx, { height: this.height, time: T0 + this.height * 1000 })
    if (!r.ok) throw new Error(`test setup: ${r.error.message}`)
    this.state = r.value
  }

  /** Publishes (and by default approves) a release; returns its id. */
  publish(options: ReleaseOptions): string {
    const fields: PublishFields = {
      product: options.product ?? 'gw',
      channel: options.channel ?? 'stable',
      version: options.version,
      hardware: options.hardware ?? ['rev-b'],
      imageSize: 4096,
      imageSha256: imageHash(options.version),
      // A manifest of its own per release, as images of different versions have.
      chunkHashesSha256: sha256(utf8(`chunks of ${options.version}`)),
      rollout: options.rollout ?? { start: T0, waves: [{ percent: 100, afterMs: 0 }] },
      ...(options.minFrom ? { minFrom: options.minFrom } : {}),
    }
    const tx = this.txs.publish(fields)
    this.commit(tx)
    if (options.approve !== false) this.approve(tx.idString)
    this.versions.set(tx.idString, options.version)
    return tx.idString
  }

  approve(id: string): void {
    for (const approver of this.chain.approvers) this.commit(this.txs.approve(parseCid(id)!, approver))
  }

  revoke(id: string, reason = 'bricks some boards'): void {
    this.commit(this.txs.revoke(parseCid(id)!, reason))
  }

  release(id: string): ReleaseRecord {
    return this.state.release(id)!
  }

  view(): LedgerView {
    return ledgerView(this.state)
  }

  /** A release id's version, for readable summaries. */
  versionOf(id: string): string {
    return this.versions.get(id) ?? id
  }

  config(overrides: Partial<AgentConfig> = {}): AgentConfig {
    return {
      publicKey: this.device.publicKey,
      product: 'gw',
      hardware: 'rev-b',
      channel: 'stable',
      window: null,
      maxChainAgeMs: null,
      ...overrides,
    }
  }
}

/** A one-line picture of a command, with versions instead of release ids; logs are left out. */
export function describe(world: World, output: AgentOutput): string | undefined {
  switch (output.type) {
    case 'persist':
      return 'persist'
    case 'fetch':
      return `fetch ${output.version}`
    case 'cancel-fetch':
      return `cancel-fetch ${world.versionOf(output.release)} (${output.reason})`
    case 'verify':
      return `verify ${world.versionOf(output.release)}`
    case 'install':
      return `install ${output.version}`
    case 'confirm':
      return `confirm ${output.version}${output.hookExited ? '' : ' (hook cut short)'}`
    case 'report':
      return `report ${output.status} ${world.versionOf(output.release)}`
    case 'log':
      return undefined
  }
}

/**
 * A test driver: owns the clock, feeds inputs, keeps every output and the last persisted
 * bytes, and can restart the agent from them as the node would after a crash.
 */
export class Driver {
  agent!: DeviceAgent
  now: number
  /** Every output of the current agent, in order. */
  readonly all: AgentOutput[] = []
  persisted: Uint8Array | undefined

  constructor(
    readonly world: World,
    readonly options: {
      running?: string
      window?: MaintenanceWindow | null
      config?: Partial<AgentConfig>
      boot?: Partial<AgentBoot>
      now?: number
    } = {},
  ) {
    this.now = options.now ?? T0 + HOUR
    this.boot(options.running ?? '1.0.0')
  }

  /** The device's boot id: `reboot()` changes it. */
  bootId = 'boot-1'

  /** Boots a fresh agent from the last persisted bytes, on a device running `running`. */
  boot(running: string, state: Uint8Array | undefined = this.persisted): void {
    const r = DeviceAgent.boot(
      this.world.config({ window: this.options.window ?? null, ...this.options.config }),
      {
        runningVersion: running,
        now: this.now,
        state,
        bootId: this.bootId,
        ...this.options.boot,
      },
    )
    if (!r.ok) throw new Error(r.error.message)
    this.agent = r.value
    // Boot says things (logs) before any input; commands wait for the first ledger view.
    expect(this.take()).toEqual([])
  }

  /** The device reboots (a new boot id) into `running`, and the agent starts from its state. */
  reboot(running: string): void {
    this.bootId = `boot-${Number(this.bootId.slice(5)) + 1}`
    this.boot(running)
  }

  /** Drains the agent's outputs; returns the commands as one-line strings. */
  take(): string[] {
    const out = this.agent.takeOutputs()
    this.all.push(...out)
    for (const o of out) if (o.type === 'persist') this.persisted = o.bytes
    return out.map((o) => describe(this.world, o)).filter((d): d is string => d !== undefined)
  }

  /** The events of every log output taken so far. */
  logs(): string[] {
    return this.all.filter((o) => o.type === 'log').map((o) => (o.type === 'log' ? o.event : ''))
  }

  ledger(): string[] {
    this.agent.handleLedger(this.world.view(), this.now)
    return this.take()
  }

  tick(at: number = this.agent.nextTickAt() ?? this.now): string[] {
    this.now = Math.max(this.now, at)
    this.agent.handleTick(this.now)
    return this.take()
  }

  downloaded(id: string, imagePath?: string): string[] {
    this.agent.handleDownloaded(id, this.now, imagePath)
    return this.take()
  }

  downloadFailed(id: string, reason = 'no peer holds chunk 3'): string[] {
    this.agent.handleDownloadFailed(id, reason, this.now)
    return this.take()
  }

  verified(id: string, sha = imageHash(this.world.versionOf(id))): string[] {
    this.agent.handleVerified(id, sha, this.now)
    return this.take()
  }

  /** The install hook exited 0: the agent asks for the confirm step. */
  hookDone(id: string): string[] {
    this.agent.handleInstallDone(id, { ok: true }, this.now)
    return this.take()
  }

  /** The confirm step answered. */
  confirmed(id: string, outcome: ConfirmOutcome = { state: 'running' }): string[] {
    this.agent.handleConfirmDone(id, outcome, this.now)
    return this.take()
  }

  /** The hook exited 0 and the confirm step found the new version running: both steps' outputs. */
  installed(id: string): string[] {
    return [...this.hookDone(id), ...this.confirmed(id)]
  }

  /** Commits every pending report. */
  commitReports(): string[] {
    for (const r of this.agent.state.reports) this.agent.handleReportCommitted(r.id, this.now)
    return this.take()
  }

  /** The last output of a type. */
  last<T extends AgentOutput['type']>(type: T): Extract<AgentOutput, { type: T }> | undefined {
    for (let i = this.all.length - 1; i >= 0; i--) {
      const o = this.all[i]!
      if (o.type === type) return o as Extract<AgentOutput, { type: T }>
    }
    return undefined
  }
}
