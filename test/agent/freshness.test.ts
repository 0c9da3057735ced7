import { describe, expect, it } from 'vitest'
import { Driver, MINUTE, World } from './world.js'

/**
 * The freeze attack: an attacker who withholds new blocks keeps a device acting on an old
 * ledger (a revocation it never hears of, a release it should no longer take). Validators
 * commit a signed time at least every heartbeat interval; with the newest block older than
 * `maxChainAgeMs` the agent starts no download and no install, and it acts again at the
 * first fresh view. Before, it kept acting on the stale chain indefinitely.
 */

const MAX_AGE = 90_000

/** A driver whose views carry a chosen head time (the newest block's signed time). */
function freshnessDriver(world: World) {
  const d = new Driver(world, { config: { maxChainAgeMs: MAX_AGE } })
  const view = (headAgeMs: number) => {
    d.agent.handleLedger({ ...world.view(), headTime: d.now - headAgeMs }, d.now)
    return d.take()
  }
  return { d, view }
}

describe('agent: freshness (max_chain_age)', () => {
  it('starts no download of an approved release while the newest block is older than max_chain_age, and starts it at the first fresh block', () => {
    const w = new World()
    w.publish({ version: '1.1.0' })
    const { d, view } = freshnessDriver(w)
    // Only the first persist of the agent's (idle) state.
    expect(view(MAX_AGE + 1)).toEqual(['persist'])
    expect(d.agent.phase).toBe('idle')
    expect(d.agent.isChainStale).toBe(true)
    expect(d.logs()).toContain('chain-stale')
    // Still stale a day later, whatever ticks come: nothing starts.
    d.now += 24 * 60 * MINUTE
    expect(view(24 * 60 * MINUTE)).toEqual([])
    expect(d.tick(d.now + MINUTE)).toEqual([])
    expect(view(1_000)).toEqual(['persist', 'fetch 1.1.0', 'report downloading 1.1.0'])
    expect(d.agent.isChainStale).toBe(false)
    expect(d.logs()).toContain('chain-fresh')
  })

  it('acts on a chain exactly max_chain_age old, not one millisecond older', () => {
    const w = new World()
    w.publish({ version: '1.1.0' })
    expect(freshnessDriver(w).view(MAX_AGE)).toContain('fetch 1.1.0')
    expect(freshnessDriver(w).view(MAX_AGE + 1)).toEqual(['persist'])
  })

  it('does not install a verified image while the chain is stale, and installs it once a fresh block comes', () => {
    const w = new World()
    const id = w.publish({ version: '1.1.0' })
    const { d, view } = freshnessDriver(w)
    expect(view(0)).toContain('fetch 1.1.0')
    d.commitReports()
    // The validators stop; the download (already running) and the verification go on.
    d.now += 2 * MAX_AGE
    expect(d.downloaded(id, '/img/1.1.0')).toEqual(['persist', 'verify 1.1.0'])
    expect(d.verified(id)).toEqual(['persist'])
    expect(d.agent.phase).toBe('waiting-for-window')
    expect(d.agent.isChainStale).toBe(true)
    expect(view(2 * MAX_AGE)).toEqual([])
    expect(view(5_000)).toEqual(['persist', 'install 1.1.0', 'report installing 1.1.0'])
  })

  it('does not retry a failed download while the chain is stale', () => {
    const w = new World()
    const id = w.publish({ version: '1.1.0' })
    const { d, view } = freshnessDriver(w)
    view(0)
    d.commitReports()
    d.now += 2 * MAX_AGE
    expect(d.downloadFailed(id)).toEqual(['persist'])
    const retryAt = d.agent.nextTickAt()!
    expect(retryAt).toBeGreaterThan(d.now)
    expect(d.tick(retryAt), 'the retry is due, but the chain is stale').toEqual([])
    expect(view(1_000)).toContain('fetch 1.1.0')
  })

  it('does not switch to a newer release seen on a stale chain', () => {
    const w = new World()
    w.publish({ version: '1.1.0' })
    const { d, view } = freshnessDriver(w)
    view(0)
    d.commitReports()
    w.publish({ version: '1.2.0' })
    expect(view(MAX_AGE + 1)).toEqual([])
    expect(d.agent.state.target?.version).toBe('1.1.0')
    expect(view(0)).toContain('fetch 1.2.0')
  })

  it('still drops a target revoked on the stale chain (dropping is always safe)', () => {
    const w = new World()
    const id = w.publish({ version: '1.1.0' })
    const { d, view } = freshnessDriver(w)
    view(0)
    w.revoke(id)
    expect(view(MAX_AGE + 1)).toContain('cancel-fetch 1.1.0 (revoked)')
    expect(d.agent.phase).toBe('idle')
  })
})
