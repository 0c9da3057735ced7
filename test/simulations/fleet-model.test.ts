import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { GOSSIP_D_HI, GOSSIP_D_LO } from '../../simulations/fleet/constants.js'
import { gossipMesh, overlayGraph } from '../../simulations/fleet/topology.js'
import { heapNeededMB } from '../../simulations/heap-size.js'
import { Prng } from '../../src/prng.js'

/** Runs `npm run sim -- <args>` as a child process, with Node flags before the script. */
function simCli(args: readonly string[], nodeFlags: readonly string[] = []) {
  return spawnSync(process.execPath, [...nodeFlags, '--import', 'tsx', 'simulations/cli.ts', ...args], {
    encoding: 'utf8',
  })
}

describe('simulations: fleet topology', () => {
  it('the chunk overlay connects every device without the origin', () => {
    const devices = 2_000
    const g = overlayGraph(Prng.fromSeed('overlay'), devices, 8, 16)
    const seen = new Uint8Array(devices)
    const stack = [0]
    seen[0] = 1
    while (stack.length > 0) {
      const v = stack.pop()!
      for (let k = g.start[v]!; k < g.start[v + 1]!; k++) {
        const w = g.adj[k]!
        if (w < devices && !seen[w]) {
          seen[w] = 1
          stack.push(w)
        }
      }
    }
    expect(seen.every((s) => s === 1)).toBe(true)
    expect(g.degree(devices)).toBe(16)
    for (let i = 0; i < devices; i++) expect(g.degree(i), `device ${i}`).toBeGreaterThanOrEqual(8)
  })

  it('the gossip mesh keeps every degree between D_lo and D_hi', () => {
    const g = gossipMesh(Prng.fromSeed('mesh'), 3_000)
    for (let i = 0; i < 3_000; i++) {
      expect(g.degree(i), `node ${i}`).toBeGreaterThanOrEqual(GOSSIP_D_LO)
      expect(g.degree(i), `node ${i}`).toBeLessThanOrEqual(GOSSIP_D_HI)
    }
  })
})

describe('simulations: npm run sim -- rollout', () => {
  it('prints one JSON object, identical for the same seed apart from wall time and memory', () => {
    const run = () => {
      const r = simCli(['rollout', '--devices', '40', '--image-mib', '2', '--seed', '3', '--json'])
      expect(r.status, r.stderr).toBe(0)
      const lines = r.stdout.trim().split('\n')
      expect(lines).toHaveLength(1)
      const out = JSON.parse(lines[0]!)
      expect(Object.keys(out).slice(0, 15)).toEqual([
        'devices',
        'imageMiB',
        'seed',
        'wallSeconds',
        'peakRssMB',
        'events',
        'simSeconds',
        'lowerBoundSeconds',
        'clientServerSeconds',
        'ratioToBound',
        'ratioToBoundOnline',
        'originEgressCopies',
        'announcementP99Ms',
        'reportsCommitted',
        'reportCommitP99Ms',
      ])
      expect(out.reportsCommitted).toBe(40)
      delete out.wallSeconds
      delete out.peakRssMB
      return JSON.stringify(out)
    }
    expect(run()).toBe(run())
  }, 60_000)

  it('runs itself again with a bigger heap when the fleet needs more than it was given', () => {
    const r = simCli(
      ['rollout', '--devices', '40', '--image-mib', '1', '--json'],
      ['--max-old-space-size=128'],
    )
    expect(r.status, r.stderr).toBe(0)
    expect(r.stderr).toContain(
      `40 devices: running again with a ${(heapNeededMB(40) / 1024).toFixed(1)} GB heap`,
    )
    expect(r.stderr.match(/^seed 1: rollout, 40 devices/gm), 'the run itself happens once').toHaveLength(1)
    expect(JSON.parse(r.stdout).reportsCommitted).toBe(40)
  }, 60_000)
})
