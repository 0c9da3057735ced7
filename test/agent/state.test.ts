import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  AGENT_STATE_VERSION,
  type AgentState,
  decodeAgentState,
  encodeAgentState,
  initialAgentState,
  parseMaintenanceWindow,
} from '../../src/agent/index.js'
import { encodeCbor } from '../../src/codec/cbor.js'
import { AGENT_STATE_BYTES_MAX } from '../../src/constants.js'
import { Driver, HOUR, T0, World } from './world.js'

/** The persisted states of a run through every phase, as the agent wrote them. */
function statesOfARun(): Uint8Array[] {
  const window = parseMaintenanceWindow({ start: '02:00', end: '04:30' })
  if (!window.ok) throw new Error(window.error.message)
  const w = new World()
  const id = w.publish({ version: '1.1.0' })
  const d = new Driver(w, { window: window.value, now: T0 + HOUR })
  d.ledger()
  d.downloadFailed(id)
  d.tick()
  d.downloaded(id, '/var/lib/fwmesh/images/a.img')
  d.verified(id)
  d.tick(T0 + 2 * HOUR)
  d.agent.handleInstallDone(id, { ok: false, code: 'exit', exitCode: 3, detail: 'no space left' }, d.now)
  d.take()
  d.commitReports()
  return d.all.flatMap((o) => (o.type === 'persist' ? [o.bytes] : []))
}

function stateField(overrides: Record<string, unknown>): Uint8Array {
  const base = decodeAgentState(encodeAgentState(initialAgentState('1.0.0')))
  if (!base.ok) throw new Error(base.error.message)
  const fields: Record<string, unknown> = { v: AGENT_STATE_VERSION, ...base.value, ...overrides }
  // `undefined` stands for a field left out.
  for (const key of Object.keys(fields)) if (fields[key] === undefined) delete fields[key]
  return encodeCbor(fields)
}

describe('agent: state codec', () => {
  it('agent: state codec: every state of a run through all phases decodes to itself', () => {
    const states = statesOfARun()
    const phases = new Set<string>()
    for (const [i, bytes] of states.entries()) {
      const decoded = decodeAgentState(bytes)
      expect(decoded.ok, `state ${i}`).toBe(true)
      if (!decoded.ok) continue
      phases.add(decoded.value.phase)
      expect(encodeAgentState(decoded.value), `state ${i} re-encodes to the same bytes`).toEqual(bytes)
    }
    expect([...phases].sort()).toEqual([
      'downloading',
      'idle',
      'installing',
      'reporting',
      'verifying',
      'waiting-for-window',
    ])
  })

  const faults: Array<[string, Uint8Array, 'too-large' | 'corrupt' | 'unknown-version', RegExp]> = [
    ['an empty file', new Uint8Array(0), 'corrupt', /DAG-CBOR/],
    ['random bytes', Uint8Array.from([0xff, 0x00, 0x13, 0x37]), 'corrupt', /DAG-CBOR/],
    ['a file over the limit', new Uint8Array(AGENT_STATE_BYTES_MAX + 1), 'too-large', /over the limit/],
    ['a CBOR value that is not a map', encodeCbor([1, 2, 3]), 'corrupt', /no format version/],
    ['a map without a version', encodeCbor({ phase: 'idle' }), 'corrupt', /no format version/],
    [
      'a newer format version',
      stateField({ v: 2 }),
      'unknown-version',
      /format version 2; this agent reads version 1/,
    ],
    ['an unknown phase', stateField({ phase: 'flashing' }), 'corrupt', /^phase:/],
    ['an extra field', stateField({ colour: 'blue' }), 'corrupt', /unexpected field "colour"/],
    ['a missing field', stateField({ installed: undefined }), 'corrupt', /missing field "installed"/],
    [
      'a phase without its target',
      stateField({ phase: 'downloading' }),
      'corrupt',
      /phase downloading without a target/,
    ],
    [
      'an installed version that is not semver',
      stateField({ installed: 'v1' }),
      'corrupt',
      /not a semantic version/,
    ],
    ['attempts far over the limit', stateField({ downloadAttempts: 1000 }), 'corrupt', /downloadAttempts/],
  ]
  for (const [name, bytes, code, message] of faults) {
    it(`agent: state codec: ${name} is refused as ${code}`, () => {
      const r = decodeAgentState(bytes)
      expect(r.ok, name).toBe(false)
      if (r.ok) return
      expect(r.error.code, name).toBe(code)
      expect(r.error.message, name).toMatch(message)
    })
  }

  it('agent: state codec: truncated or bit-flipped states never throw (fast-check)', () => {
    const states = statesOfARun()
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: states.length - 1 }),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.boolean(),
        (which, position, value, truncate) => {
          const original = states[which]!
          const at = position % original.length
          const bytes = truncate ? original.slice(0, at) : Uint8Array.from(original)
          if (!truncate) bytes[at] = value
          const r = decodeAgentState(bytes)
          if (r.ok) expect(() => encodeAgentState(r.value as AgentState)).not.toThrow()
          else expect(['too-large', 'corrupt', 'unknown-version']).toContain(r.error.code)
        },
      ),
      { seed: 3, numRuns: 500 },
    )
  })

  it('agent: state codec: random bytes never throw (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const r = decodeAgentState(bytes)
        expect(r.ok).toBe(false)
      }),
      { seed: 5, numRuns: 300 },
    )
  })
})
