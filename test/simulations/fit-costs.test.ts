import { describe, expect, it } from 'vitest'
import { fitCosts, type Sample } from '../../simulations/fidelity/fit-costs.js'
import { Prng } from '../../src/prng.js'

/** Nodes of a made-up fleet whose CPU follows known costs, with a little noise. */
function fleetSamples(
  costs: { idle: number; perMiB: number; perMessage: number },
  noiseMs: number,
): Sample[] {
  const prng = Prng.fromSeed('fit-costs')
  const samples: Sample[] = []
  for (let run = 0; run < 4; run++) {
    const windowMs = 10_000 + run * 7_000
    for (let node = 0; node < 20; node++) {
      const validator = node < 4 && node > 0
      const mib = validator ? 0 : 8 + prng.next() * 120
      const messages = validator ? prng.int(20) : Math.round(mib * (20 + prng.next() * 60))
      const cpuMs =
        costs.idle * windowMs +
        costs.perMiB * mib +
        costs.perMessage * messages +
        (prng.next() - 0.5) * noiseMs
      samples.push({ windowMs, mib, messages, cpuMs: Math.max(0, cpuMs) })
    }
  }
  return samples
}

describe('simulator CPU calibration', () => {
  it('recovers the idle share, the cost per MiB and the cost per message of a fleet that follows them', () => {
    const { costs, rmsMs } = fitCosts(fleetSamples({ idle: 0.02, perMiB: 9, perMessage: 0.05 }, 20))
    expect(costs.idleCoreShare).toBeCloseTo(0.02, 3)
    expect(costs.msPerMiB).toBeGreaterThan(8.5)
    expect(costs.msPerMiB).toBeLessThan(9.5)
    expect(costs.msPerMessage).toBeGreaterThan(0.04)
    expect(costs.msPerMessage).toBeLessThan(0.06)
    expect(rmsMs).toBeLessThan(20)
  })

  it('never reports a negative cost: one the data push below zero is fixed at zero and the rest refitted', () => {
    // Here every message seems to save CPU: a negative cost no machine has.
    const samples = fleetSamples({ idle: 0.01, perMiB: 12, perMessage: 0 }, 400).map((s) => ({
      ...s,
      cpuMs: s.cpuMs - 0.004 * s.messages,
    }))
    const { costs } = fitCosts(samples)
    expect(costs.msPerMessage).toBe(0)
    expect(costs.msPerMiB).toBeGreaterThan(10)
    expect(costs.idleCoreShare).toBeGreaterThanOrEqual(0)
  })

  it('with the cost per MiB measured apart, fits the rest even where messages grow with the bytes', () => {
    // Every node sends 40 messages per MiB: bytes and messages alone cannot be told apart.
    const samples: Sample[] = Array.from({ length: 30 }, (_, i) => {
      const mib = i < 3 ? 0 : 4 * i
      const messages = i < 3 ? 5 : 40 * mib
      return { windowMs: 20_000, mib, messages, cpuMs: 0.03 * 20_000 + 5 * mib + 0.2 * messages }
    })
    const { costs } = fitCosts(samples, 5)
    expect(costs.msPerMiB).toBe(5)
    expect(costs.msPerMessage).toBeCloseTo(0.2, 6)
    expect(costs.idleCoreShare).toBeCloseTo(0.03, 6)
  })

  it('refuses samples that cannot tell the costs apart', () => {
    const same: Sample[] = Array.from({ length: 5 }, () => ({
      windowMs: 1000,
      mib: 1,
      messages: 1,
      cpuMs: 10,
    }))
    expect(() => fitCosts(same)).toThrow(/do not determine/)
  })
})
