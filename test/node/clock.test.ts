import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Clock } from '../../src/node/clock.js'
import type { Node } from '../../src/node/daemon.js'
import { type Cluster, startCluster } from '../helpers/cluster.js'

const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS

/** A clock that stands still until the test moves it. */
class FakeClock implements Clock {
  constructor(public time: number) {}
  now(): number {
    return this.time
  }
}

describe('node: one injected clock (real libp2p, loopback)', () => {
  let cluster: Cluster
  let validator: Node
  let clock: FakeClock

  beforeAll(async () => {
    // A week after genesis by the fake clock; the system clock is months away from that, so a
    // time read from anywhere but the injected clock shows. The heartbeat interval is an hour:
    // the validator's first heartbeat is due at once, and its timer, armed for an hour of real
    // time, does not wake it again while the test moves the fake clock.
    const genesisTime = 1_767_225_600_000 // 2026-01-01T00:00:00Z, the dev chain's default
    clock = new FakeClock(genesisTime + 7 * DAY_MS)
    cluster = await startCluster({
      seed: 'clock',
      validators: 1,
      params: { emptyBlockIntervalMs: HOUR_MS },
      clock,
    })
    validator = cluster.validators[0]!
    expect(cluster.chain.genesis.time).toBe(genesisTime)
    // No deadline of its own: the heartbeat is due at once, and the test's timeout bounds a hang.
    while (validator.ledger.ledger.head.height < 1) await new Promise((r) => setTimeout(r, 10))
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it('a validator dates the block it proposes by the injected clock', () => {
    expect(validator.ledger.ledger.head.height).toBe(1)
    expect(validator.ledger.ledger.head.time).toBe(clock.time)
    expect(validator.status()).toMatchObject({ live: true, chainAgeSeconds: 0 })
  })

  it('status and metrics measure the chain by the injected clock: stepped past max_chain_age, the chain is stale', async () => {
    const head = validator.ledger.ledger.head
    const maxChainAgeSeconds = validator.status().maxChainAgeSeconds
    expect(maxChainAgeSeconds, 'three heartbeat intervals by default').toBe((3 * HOUR_MS) / 1000)
    clock.time = head.time + 4 * HOUR_MS
    expect(validator.status()).toMatchObject({
      live: false,
      chainAgeSeconds: 4 * 3600,
      head: { time: head.time },
    })
    const metrics = await validator.metrics()
    expect(metrics).toContain('fwmesh_chain_age_seconds 14400\n')
    expect(metrics).toContain('fwmesh_live 0\n')
  })
})
