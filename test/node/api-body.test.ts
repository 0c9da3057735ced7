import { describe, expect, it } from 'vitest'
import { utf8 } from '../../src/codec/bytes.js'
import { API_BODY_BYTES_MAX, API_BODY_DEPTH_MAX } from '../../src/constants.js'
import { decodeTxRequest, parseJsonBody } from '../../src/node/api-body.js'

function codeOf(r: { ok: boolean; error?: { code: string } }): string {
  return r.ok ? 'accepted' : r.error!.code
}

describe('node: API request bodies', () => {
  it('parse a JSON object; an empty body is an empty object', () => {
    const r = parseJsonBody(utf8('{"tx": "AAEC"}'))
    expect(r.ok && r.value).toEqual({ tx: 'AAEC' })
    expect(parseJsonBody(new Uint8Array(0))).toEqual({ ok: true, value: {} })
  })

  it('refuse what is not a JSON object, with a 400 and a code', () => {
    for (const text of ['[1]', '5', '"tx"', 'null', '{"tx":', '{"tx": "\\ud800"} x', '\u00ff']) {
      const r = parseJsonBody(utf8(text))
      expect(r.ok ? 'accepted' : [r.error.status, r.error.code], text).toEqual([400, 'malformed'])
    }
  })

  it('refuse a body nested deeper than API_BODY_DEPTH_MAX, and one over API_BODY_BYTES_MAX', () => {
    const nested = (n: number) => `{"a": ${'['.repeat(n - 1)}${']'.repeat(n - 1)}}`
    expect(codeOf(parseJsonBody(utf8(nested(API_BODY_DEPTH_MAX))))).toBe('accepted')
    expect(codeOf(parseJsonBody(utf8(nested(API_BODY_DEPTH_MAX + 1))))).toBe('too-deep')
    expect(codeOf(parseJsonBody(utf8(nested(20_000))))).toBe('too-deep')
    expect(codeOf(parseJsonBody(new Uint8Array(API_BODY_BYTES_MAX + 1)))).toBe('too-large')
  })

  // Regression: the transaction was read with Buffer.from(text, 'base64'), which skips what is
  // not base64, so a mangled envelope reached the ledger as some other bytes.
  it('take a transaction only as strict base64', () => {
    expect(decodeTxRequest({ tx: 'AAEC' })).toEqual({ ok: true, value: new Uint8Array([0, 1, 2]) })
    for (const tx of ['AA!EC', 'AAE', 'AAEC====', '', 5, null, undefined]) {
      const r = decodeTxRequest({ tx })
      expect(r.ok ? 'accepted' : [r.error.status, r.error.code], String(tx)).toEqual([400, 'malformed'])
    }
  })
})
