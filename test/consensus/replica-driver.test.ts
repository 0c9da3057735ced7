import { describe, expect, it } from 'vitest'
import { MemoryReplicaStore } from '../../src/consensus/memory-store.js'
import type { Replica, ReplicaOutput } from '../../src/consensus/replica.js'
import { type OutputVerdict, ReplicaDriver, type ReplicaHost } from '../../src/consensus/replica-driver.js'
import { TxFactory } from '../../src/ledger/dev-chain.js'
import { chainOf } from './harness.js'

const chain = chainOf(4)
const f = new TxFactory(chain)
const tx = f.registerDevice(chain.key('d').publicKey, 'gw', 'rev-a', [], chain.admin)

/** Validator 0 (the primary of view 0) as a fresh replica at genesis time. */
function primary(now: number): Replica {
  return new MemoryReplicaStore().startReplica({
    genesis: chain.genesis,
    index: 0,
    secretKey: chain.validators[0]!.secretKey,
    now,
  })
}

/** A host that records every call as the output it stands for, and every timer it is given. */
function recordingHost(clock: { now: number }, extra: Partial<ReplicaHost> = {}) {
  const carried: ReplicaOutput[] = []
  const timers: (number | undefined)[] = []
  const host: ReplicaHost = {
    now: () => clock.now,
    send: (to, msg) => carried.push({ type: 'send', to, msg }),
    broadcast: (msg) => carried.push({ type: 'broadcast', msg }),
    persist: (record) => carried.push({ type: 'persist', record }),
    commit: (block, cert) => carried.push({ type: 'commit', block, cert }),
    requestSync: (from, height, count) => carried.push({ type: 'request-sync', from, height, count }),
    fault: (from, code, message) => carried.push({ type: 'fault', from, code, message }),
    view: (view, changing, reason) => carried.push({ type: 'view', view, changing, reason }),
    checkpoint: (height, block, cert) => carried.push({ type: 'checkpoint', height, block, cert }),
    setTimer: (deadline) => timers.push(deadline),
    ...extra,
  }
  return { host, carried, timers }
}

/** Submits a transaction, then lets the block interval pass: the primary signs and proposes. */
function propose(driver: ReplicaDriver, clock: { now: number }): void {
  driver.submit(tx)
  clock.now += 100
  driver.tick()
}

describe('consensus: replica driver', () => {
  it('hands the host every output in the order the replica produced it, so a persist comes before the proposal it guards', () => {
    const t0 = chain.genesis.time
    // The same inputs to a twin replica, polled by hand: what the driver must carry out.
    const twin = primary(t0)
    const expected = twin.poll()
    twin.submit(tx, t0)
    expected.push(...twin.poll())
    twin.handleTick(t0 + 100)
    expected.push(...twin.poll())

    const clock = { now: t0 }
    const { host, carried } = recordingHost(clock)
    const driver = new ReplicaDriver(primary(t0), host)
    driver.flush()
    propose(driver, clock)

    expect(carried).toEqual(expected)
    const persistAt = carried.findIndex((o) => o.type === 'persist')
    const proposalAt = carried.findIndex((o) => o.type === 'broadcast' && o.msg.type === 'pre-prepare')
    expect(proposalAt, 'the primary proposed').toBeGreaterThan(0)
    expect(persistAt, 'the safety record is persisted before the proposal leaves').toBeGreaterThanOrEqual(0)
    expect(persistAt).toBeLessThan(proposalAt)
  })

  it("arms the host's one timer for the replica's next deadline after every batch", () => {
    const clock = { now: chain.genesis.time }
    const { host, timers } = recordingHost(clock)
    const driver = new ReplicaDriver(primary(clock.now), host)
    driver.flush()
    propose(driver, clock)
    expect(timers).toHaveLength(3)
    expect(timers.at(-1)).toBe(driver.replica.nextDeadline())
    expect(timers.every((t) => t !== undefined)).toBe(true)
  })

  it('drops an output the host screens out, and ends the batch at a crash verdict after carrying that output out', () => {
    const clock = { now: chain.genesis.time }
    let crashed = 0
    const screened: ReplicaOutput[] = []
    const screen = (out: ReplicaOutput): OutputVerdict => {
      screened.push(out)
      if (out.type === 'broadcast' && out.msg.type === 'tx') return 'drop'
      if (out.type === 'persist') return 'crash'
      return undefined
    }
    const { host, carried, timers } = recordingHost(clock, { screen, crash: () => crashed++ })
    const driver = new ReplicaDriver(primary(clock.now), host)
    driver.flush()
    propose(driver, clock)
    expect(carried.some((o) => o.type === 'broadcast' && o.msg.type === 'tx')).toBe(false)
    expect(crashed).toBe(1)
    expect(carried.at(-1)?.type, 'the persist is the last output carried out').toBe('persist')
    expect(screened.at(-1)?.type, 'nothing after the crash was even looked at').toBe('persist')
    expect(timers, 'no timer is armed for a crashed replica').toHaveLength(2)
  })

  it('a crash after k outputs carries out the first k of the next batch, unscreened, and no more', () => {
    const clock = { now: chain.genesis.time }
    let crashAfter: number | null = null
    let crashed = 0
    const { host, carried } = recordingHost(clock, {
      screen: () => 'drop',
      takeCrashAfterOutputs: () => {
        const k = crashAfter
        crashAfter = null
        return k
      },
      crash: () => crashed++,
    })
    const driver = new ReplicaDriver(primary(clock.now), host)
    driver.flush()
    expect(carried, 'the screen drops everything').toEqual([])
    crashAfter = 1
    propose(driver, clock)
    expect(crashed).toBe(1)
    expect(carried, 'one output of the submission batch, then the crash').toHaveLength(1)
  })

  it('after stop the replica still judges inputs, but nothing more is carried out', () => {
    const clock = { now: chain.genesis.time }
    const { host, carried, timers } = recordingHost(clock)
    const driver = new ReplicaDriver(primary(clock.now), host)
    driver.flush()
    const before = carried.length
    driver.stop()
    const late = f.registerDevice(chain.key('late').publicKey, 'gw', 'rev-a', [], chain.admin)
    expect(driver.submit(late)).toEqual({ ok: true })
    expect(driver.submit(late).ok, 'the mempool saw the first one').toBe(false)
    expect(carried).toHaveLength(before)
    expect(timers).toHaveLength(1)
  })

  it('runs the mempool self-check after a batch when asked to', () => {
    const clock = { now: chain.genesis.time }
    const { host } = recordingHost(clock)
    const driver = new ReplicaDriver(primary(clock.now), host, { checkMempool: 'each-batch' })
    let checks = 0
    const mempool = driver.replica.mempool
    const original = mempool.checkInvariants.bind(mempool)
    mempool.checkInvariants = () => {
      checks++
      original()
    }
    driver.flush()
    propose(driver, clock)
    expect(checks).toBe(3)
  })
})

describe('consensus: memory store', () => {
  it('restarts a replica at the head and with the safety record it holds', () => {
    const clock = { now: chain.genesis.time }
    const store = new MemoryReplicaStore()
    const driver = new ReplicaDriver(primary(clock.now), {
      ...recordingHost(clock).host,
      persist: (record) => {
        store.safety = record
      },
    })
    driver.flush()
    propose(driver, clock)
    expect(store.safety, 'the proposal persisted a record').toBeDefined()
    const restarted = store.startReplica({
      genesis: chain.genesis,
      index: 0,
      secretKey: chain.validators[0]!.secretKey,
      now: clock.now,
    })
    expect(restarted.safetyRecord()).toEqual(store.safety)
    expect(restarted.head).toBe(store.head)
  })
})
