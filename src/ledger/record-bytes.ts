import { assert } from '../codec/assert.js'

/**
 * An unambiguous byte encoding of a state record, for its leaf in the state root
 * (state-root.ts). Not a wire or disk format: records are stored as DAG-CBOR; this only has
 * to give one byte string per (key, value) and never the same one for two of them, and be
 * fast, since every record a block changes is hashed on every replica. (DAG-CBOR's encoder
 * costs several times more per record.) Every item is a type byte, then:
 *
 *   null 0x00 · false 0x01 · true 0x02 · number 0x03 + float64 (big-endian)
 *   string 0x04 + u32 length + UTF-8 · bytes 0x05 + u32 length + bytes
 *   array 0x06 + u32 count + items · map 0x07 + u32 count + (string key, item)… in key order
 *
 * A map's keys are sorted by UTF-16 code units and a key whose value is undefined is left
 * out, so an object built in memory and the same object decoded from disk encode alike. A
 * number is its float64 value, the same whichever way CBOR stored it.
 */

const NULL = 0x00
const FALSE = 0x01
const TRUE = 0x02
const NUMBER = 0x03
const STRING = 0x04
const BYTES = 0x05
const ARRAY = 0x06
const MAP = 0x07

const encoder = new TextEncoder()
let buffer = new Uint8Array(4096)
let view = new DataView(buffer.buffer)
let at = 0

function room(n: number): void {
  if (at + n <= buffer.byteLength) return
  let size = buffer.byteLength * 2
  while (size < at + n) size *= 2
  const next = new Uint8Array(size)
  next.set(buffer.subarray(0, at))
  buffer = next
  view = new DataView(buffer.buffer)
}

function byte(b: number): void {
  room(1)
  buffer[at++] = b
}

function u32(n: number): void {
  room(4)
  view.setUint32(at, n)
  at += 4
}

function string(s: string): void {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  room(5 + s.length * 3)
  buffer[at] = STRING
  const { written } = encoder.encodeInto(s, buffer.subarray(at + 5))
  view.setUint32(at + 1, written)
  at += 5 + written
}

function item(value: unknown): void {
  if (value === null) {
    byte(NULL)
    return
  }
  switch (typeof value) {
    case 'boolean':
      byte(value ? TRUE : FALSE)
      return
    case 'number':
      room(9)
      buffer[at] = NUMBER
      view.setFloat64(at + 1, value)
      at += 9
      return
    case 'string':
      string(value)
      return
    case 'object':
      break
    default:
      assert(false, `a state record holds only data (found a ${typeof value})`)
  }
  if (value instanceof Uint8Array) {
    room(5 + value.byteLength)
    buffer[at] = BYTES
    view.setUint32(at + 1, value.byteLength)
    buffer.set(value, at + 5)
    at += 5 + value.byteLength
    return
  }
  if (Array.isArray(value)) {
    byte(ARRAY)
    u32(value.length)
    for (const v of value) item(v)
    return
  }
  const proto = Object.getPrototypeOf(value)
  assert(proto === Object.prototype || proto === null, 'a state record holds only plain objects')
  const record = value as Record<string, unknown>
  const keys = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort()
  byte(MAP)
  u32(keys.length)
  for (const k of keys) {
    string(k)
    item(record[k])
  }
}

/**
 * `domain`, then the record key and value as above. The result is a view of a shared buffer,
 * valid until the next call: hash it at once.
 */
export function recordBytes(domain: number, recordKey: string, value: unknown): Uint8Array {
  at = 0
  byte(domain)
  string(recordKey)
  item(value)
  return buffer.subarray(0, at)
}
