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
