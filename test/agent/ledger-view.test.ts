import { describe, expect, it } from 'vitest'
import { World } from './world.js'

describe('agent: ledger view', () => {
  it('agent: ledger view: releases are grouped by product and channel, newest first', () => {
    const w = new World()
    const a = w.publish({ version: '1.0.1' })
    const b = w.publish({ version: '1.2.0' })
    const c = w.publish({ version: '1.10.0' })
    const beta = w.publish({ version: '2.0.0-beta.1', channel: 'beta' })
    const camera = w.publish({ version: '0.1.0', product: 'camera' })
    const view = w.view()
    expect([...view.releasesOf('gw', 'stable')].map((r) => r.id)).toEqual([c, b, a])
    expect([...view.releasesOf('gw', 'beta')].map((r) => r.id)).toEqual([beta])
    expect([...view.releasesOf('camera', 'stable')].map((r) => r.id)).toEqual([camera])
    expect([...view.releasesOf('gw', 'nightly')]).toEqual([])
    expect(view.release(b)?.version).toBe('1.2.0')
    expect(view.release('bafynotarelease')).toBeUndefined()
  })
})
