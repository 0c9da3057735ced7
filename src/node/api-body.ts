import { API_BODY_BYTES_MAX, API_BODY_DEPTH_MAX } from '../constants.js'
import type { ApiResult } from './api.js'

/**
 * Decoding of the local API's request bodies: the bytes a client sent, bounded in size and
 * nesting, become a JSON object or a 400 with a code (`too-large`, `too-deep`, `malformed`).
 * Each route then takes its fields through a decoder of its own here, never by a cast.
 */

const utf8Strict = new TextDecoder('utf-8', { fatal: true })

function malformed(message: string): ApiResult<never> {
  return { ok: false, error: { status: 400, code: 'malformed', message } }
}

/**
 * Nesting of a parsed JSON value, walked with an explicit stack (a recursive walk is what a
 * deep body would overflow); stops as soon as it passes `max`.
 */
function depthOver(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!
    if (typeof v !== 'object' || v === null) continue
    if (depth > max) return true
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1])
  }
  return false
}

/** A request body as a JSON object; an empty body is `{}`. */
export function parseJsonBody(bytes: Uint8Array): ApiResult<Record<string, unknown>> {
  if (bytes.byteLength > API_BODY_BYTES_MAX) {
    return {
      ok: false,
      error: { status: 400, code: 'too-large', message: `request body over ${API_BODY_BYTES_MAX} bytes` },
    }
  }
  if (bytes.byteLength === 0) return { ok: true, value: {} }
  let value: unknown
  try {
    value = JSON.parse(utf8Strict.decode(bytes))
  } catch {
    return malformed('the request body is not JSON in UTF-8')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return malformed('the request body is not a JSON object')
  if (depthOver(value, API_BODY_DEPTH_MAX)) {
    return {
      ok: false,
      error: {
        status: 400,
        code: 'too-deep',
        message: `request body nested deeper than ${API_BODY_DEPTH_MAX} levels`,
      },
    }
  }
  return { ok: true, value: value as Record<string, unknown> }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** `{"tx": "<base64 envelope>"}`: the envelope's bytes, from strict, padded base64. */
export function decodeTxRequest(doc: Record<string, unknown>): ApiResult<Uint8Array> {
  const tx = doc.tx
  if (typeof tx !== 'string' || tx.length === 0 || !BASE64.test(tx))
    return malformed('expected {"tx": "<base64 transaction envelope>"}')
  return { ok: true, value: new Uint8Array(Buffer.from(tx, 'base64')) }
}
