import { CID } from 'multiformats/cid'
import { cidToString } from './cid.js'

/**
 * A `JSON.stringify` replacer for records shown to people and scripts: bytes as hex, CIDs as
 * their strings, big integers as strings.
 */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')
  if (typeof value === 'bigint') return value.toString()
  const cid = value !== null && typeof value === 'object' ? CID.asCID(value) : null
  if (cid) return cidToString(cid)
  return value
}

/**
 * A value as plain JSON for people and scripts: bytes as hex, CIDs as their strings, big
 * integers as strings, recursively. Unlike `JSON.stringify(v, jsonReplacer)`, it sees a CID
 * before the CID's own toJSON turns it into a DAG-JSON link ({"/": "..."}).
 */
export function toPlainJson(value: unknown): unknown {
  if (value instanceof Uint8Array || typeof value === 'bigint') return jsonReplacer('', value)
  if (value === null || typeof value !== 'object') return value
  const cid = CID.asCID(value)
  if (cid) return cidToString(cid)
  if (Array.isArray(value)) return value.map(toPlainJson)
  const withToJson = value as { toJSON?: () => unknown }
  if (typeof withToJson.toJSON === 'function') return toPlainJson(withToJson.toJSON())
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPlainJson(v)]))
}
