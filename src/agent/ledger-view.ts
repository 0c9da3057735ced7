/**
 * The narrow read interface the agent needs from the ledger, and an index that builds it from
 * a `LedgerState`. The agent never sees the state itself: the simulator can hand the same
 * view to 10,000 agents, and a test can see exactly what the agent reads.
 */
import { compareVersions } from '../ledger/semver.js'
import type { DeviceRecord, LedgerState, ReleaseRecord } from '../ledger/state.js'
import type { DeviceRegistration } from './eligibility.js'

export interface LedgerView {
  /** A release by id (the CID string of its publish transaction). */
  release(id: string): ReleaseRecord | undefined
  /**
   * The releases of one product and channel, **newest version first**. The agent stops at
   * the first version not newer than the installed one, so the order is part of the contract
   * (the agent asserts it). The ledger's rules make versions strictly increasing per product
   * and channel, so this is also newest-published first.
   */
  releasesOf(product: string, channel: string): Iterable<ReleaseRecord>
  /** What the ledger registered the device with this public key as; undefined if unregistered. */
  registration(publicKey: Uint8Array): DeviceRegistration | undefined
  /**
   * The time of the newest block (ms since the epoch): signed by a quorum of validators, who
   * commit one at least every heartbeat interval. The agent's freshness check reads it.
   */
  readonly headTime: number
}

/**
 * A view of one ledger state: one pass over its releases, grouped by product and channel and
 * sorted. Build a new one after every committed block; it reads `state` only while being
 * built and through `release(id)`.
 */
export function ledgerView(state: LedgerState): LedgerView {
  const groups = new Map<string, ReleaseRecord[]>()
  for (const [, record] of state.releases.entries()) {
    const key = groupKey(record.product, record.channel)
    let group = groups.get(key)
    if (!group) {
      group = []
      groups.set(key, group)
    }
    group.push(record)
  }
  for (const group of groups.values()) group.sort((a, b) => compareVersions(b.version, a.version))
  return {
    release: (id) => state.release(id),
    releasesOf: (product, channel) => groups.get(groupKey(product, channel)) ?? [],
    registration: (publicKey) => registrationOf(state.device(publicKey)),
    headTime: state.head.time,
  }
}

// Names never contain "/" (the ledger's name pattern), so the key is unambiguous.
function groupKey(product: string, channel: string): string {
  return `${product}/${channel}`
}

/** A device record as the agent reads it: its product, hardware and tags (`groups` on the ledger). */
export function registrationOf(record: DeviceRecord | undefined): DeviceRegistration | undefined {
  return record && { product: record.product, hardware: record.hardware, tags: record.groups }
}
