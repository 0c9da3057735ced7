import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { oneLine, reportDetail } from '../../src/agent/detail.js'
import { REPORT_DETAIL_LENGTH_MAX } from '../../src/constants.js'

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

describe('agent: detail', () => {
  it('agent: detail: a short message is kept, on one line', () => {
    expect(reportDetail('install hook exited with code 1', 'error:\n\tbad bundle\r\n')).toBe(
      'install hook exited with code 1: error: bad bundle',
    )
    expect(oneLine('a\u0000b\u001b[31mc\u007f d')).toBe('a b [31mc d')
  })

  it('agent: detail: a long message keeps the head and the last words, within the limit', () => {
    const d = reportDetail('install hook exited with code 1', `${'x'.repeat(1000)} the real error`)
    expect(d.length).toBe(REPORT_DETAIL_LENGTH_MAX)
    expect(d.startsWith('install hook exited with code 1: …')).toBe(true)
    expect(d.endsWith('the real error')).toBe(true)
  })

  it('agent: detail: a long prefix alone is cut with an ellipsis', () => {
    const d = reportDetail('y'.repeat(400))
    expect(d.length).toBe(REPORT_DETAIL_LENGTH_MAX)
    expect(d.endsWith('…')).toBe(true)
  })

  it('agent: detail: any text gives a line within the limit and never splits a surrogate pair (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 400 }),
        fc.string({ unit: 'grapheme', maxLength: 600 }),
        (prefix, body) => {
          const d = reportDetail(prefix, body)
          expect(d.length).toBeLessThanOrEqual(REPORT_DETAIL_LENGTH_MAX)
          expect(LONE_SURROGATE.test(d)).toBe(false)
          expect(/[\n\r\t]/.test(d)).toBe(false)
        },
      ),
      { seed: 11, numRuns: 300 },
    )
  })
})
