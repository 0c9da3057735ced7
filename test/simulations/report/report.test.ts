import { describe, expect, it } from 'vitest'
import { distributionBounds } from '../../../simulations/report/bounds.js'
import { renderRolloutReport } from '../../../simulations/report/html.js'
import { ticks } from '../../../simulations/report/svg.js'

const MiB = 1024 * 1024

describe('simulations: distribution lower bound', () => {
  it('is bound by the total upload when many peers share one seed', () => {
    const peers = Array.from({ length: 100 }, () => ({ uploadBps: 1 * MiB, downloadBps: 10 * MiB }))
    const b = distributionBounds({ fileBytes: 64 * MiB, seedUploadBps: 10 * MiB, peers })
    // N·F/(u_s + Σu) = 100·64/(10 + 100) s
    expect(b.lowerBoundSeconds).toBeCloseTo((100 * 64) / 110, 9)
    expect(b.binding).toBe('total-upload')
    expect(b.clientServerSeconds).toBeCloseTo(640, 9)
  })

  it('is bound by the seed when peers upload plenty, and by the slowest downloader when one is slow', () => {
    const fast = Array.from({ length: 4 }, () => ({ uploadBps: 100 * MiB, downloadBps: 100 * MiB }))
    expect(distributionBounds({ fileBytes: 64 * MiB, seedUploadBps: 1 * MiB, peers: fast })).toMatchObject({
      lowerBoundSeconds: 64,
      binding: 'seed-upload',
    })
    const slow = [...fast, { uploadBps: 100 * MiB, downloadBps: 0.5 * MiB }]
    expect(distributionBounds({ fileBytes: 64 * MiB, seedUploadBps: 10 * MiB, peers: slow })).toMatchObject({
      lowerBoundSeconds: 128,
      binding: 'slowest-download',
    })
  })

  it('refuses an empty swarm', () => {
    expect(() => distributionBounds({ fileBytes: 1, seedUploadBps: 1, peers: [] })).toThrow(RangeError)
  })
})

describe('simulations: HTML report', () => {
  const report = renderRolloutReport({
    title: 'rollout <10k devices>',
    seed: 7,
    summary: { devices: 10_000, ratioToBound: 1.08 },
    completion: [
      [0, 0],
      [10, 0.5],
      [20, 1],
    ],
    lowerBoundSeconds: 18,
    clientServerSeconds: 640,
    originBps: [[0, 1e7]],
    peerBps: [[0, 1e8]],
    classes: [{ name: 'LAN', devices: 10, p50: 5, p90: 8, max: 9 }],
  })

  it('is one self-contained page with three charts, no scripts and no external resources', () => {
    expect(report.startsWith('<!doctype html>')).toBe(true)
    expect(report.match(/<svg /g)?.length).toBe(3)
    expect(report.match(/<\/svg>/g)?.length).toBe(3)
    expect(report).not.toMatch(/<script|src=|href=/i)
  })

  it('escapes every text it is given', () => {
    expect(report).toContain('rollout &lt;10k devices&gt;')
    expect(report).not.toContain('<10k devices>')
  })

  it('marks the lower bound on the completion chart, and the client-server time beside it when off scale', () => {
    expect(report).toContain('lower bound 18.0 s')
    expect(report).not.toContain('client-server 640.0 s')
    expect(report).toContain('would take 640 s, off this chart')
  })

  it('marks the client-server time on the chart when it is within the chart’s scale', () => {
    const near = renderRolloutReport({
      title: 'small fleet',
      seed: 1,
      summary: {},
      completion: [
        [0, 0],
        [30, 1],
      ],
      lowerBoundSeconds: 18,
      clientServerSeconds: 64,
      originBps: [],
      peerBps: [],
      classes: [],
    })
    expect(near).toContain('client-server 64.0 s')
    expect(near).not.toContain('off this chart')
  })

  it('chooses round tick values from zero up to the range', () => {
    expect(ticks(1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1])
    expect(ticks(640)).toEqual([0, 200, 400, 600])
    expect(ticks(0)).toEqual([0])
  })
})
