import { CID } from 'multiformats/cid'
import { type DecodeError, decodeError } from './cbor.js'
import { err, ok, type Result } from './result.js'

/**
 * Typed decoders for values that came off the wire or out of a file. Every decoder checks
 * type and bounds and returns a typed `DecodeError` naming the path of the fault; none
 * throws and none returns a half-built object. Structs refuse missing and extra fields.
 */
export type Decoder<T> = (value: unknown, path: string) => Result<T, DecodeError>
export type Infer<D> = D extends Decoder<infer T> ? T : never

function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (value instanceof Uint8Array) return 'bytes'
  if (Array.isArray(value)) return 'array'
  return typeof value
}

function wrongType(path: string, expected: string, value: unknown) {
  return err(decodeError('wrong-type', path, `expected ${expected}, got ${typeName(value)}`))
}

/** A whole number in [min, max]. */
export function uint(max: number = Number.MAX_SAFE_INTEGER, min = 0): Decoder<number> {
  return (value, path) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) return wrongType(path, 'an integer', value)
    if (value < min || value > max) {
      return err(decodeError('out-of-range', path, `${value} is outside [${min}, ${max}]`))
    }
    return ok(value)
  }
}

export const bool: Decoder<boolean> = (value, path) =>
  typeof value === 'boolean' ? ok(value) : wrongType(path, 'a boolean', value)

/** A UTF-8 string of at most `maxLength` characters, optionally matching a pattern. */
export function text(maxLength: number, pattern?: RegExp, minLength = 0): Decoder<string> {
  return (value, path) => {
    if (typeof value !== 'string') return wrongType(path, 'a string', value)
    if (value.length > maxLength || value.length < minLength) {
      return err(
        decodeError('out-of-range', path, `length ${value.length} is outside [${minLength}, ${maxLength}]`),
      )
    }
    if (pattern && !pattern.test(value)) {
      return err(decodeError('out-of-range', path, `"${value.slice(0, 64)}" does not match ${pattern}`))
    }
    return ok(value)
  }
}

/** A byte string of exactly `length` bytes, or of `min`..`max` bytes. */
export function bytes(length: number | { min?: number; max: number }): Decoder<Uint8Array> {
  const min = typeof length === 'number' ? length : (length.min ?? 0)
  const max = typeof length === 'number' ? length : length.max
  return (value, path) => {
    if (!(value instanceof Uint8Array)) return wrongType(path, 'bytes', value)
    if (value.byteLength < min || value.byteLength > max) {
      const want = min === max ? `${min}` : `${min}..${max}`
      return err(decodeError('out-of-range', path, `${value.byteLength} bytes, expected ${want}`))
    }
    return ok(value)
  }
}

/** One of a fixed set of strings. */
export function oneOf<const T extends string>(...choices: readonly T[]): Decoder<T> {
  const set = new Set<string>(choices)
  return (value, path) => {
    if (typeof value !== 'string') return wrongType(path, 'a string', value)
    if (!set.has(value)) {
      return err(
        decodeError('out-of-range', path, `"${value.slice(0, 64)}" is not one of ${choices.join(', ')}`),
      )
    }
    return ok(value as T)
  }
}

/** A CID link (DAG-CBOR tag 42). */
export const cid: Decoder<CID> = (value, path) => {
  const asCid = CID.asCID(value)
  return asCid ? ok(asCid) : wrongType(path, 'a CID', value)
}

export function nullable<T>(inner: Decoder<T>): Decoder<T | null> {
  return (value, path) => (value === null ? ok(null) : inner(value, path))
}

/** An array of at most `maxItems` (and at least `minItems`) items. */
export function array<T>(item: Decoder<T>, maxItems: number, minItems = 0): Decoder<T[]> {
  return (value, path) => {
    if (!Array.isArray(value)) return wrongType(path, 'an array', value)
    if (value.length > maxItems || value.length < minItems) {
      return err(
        decodeError('out-of-range', path, `${value.length} items, expected ${minItems}..${maxItems}`),
      )
    }
    const out: T[] = []
    for (let i = 0; i < value.length; i++) {
      const r = item(value[i], `${path}[${i}]`)
      if (!r.ok) return r
      out.push(r.value)
    }
    return ok(out)
  }
}

type Fields = Record<string, Decoder<unknown>>
export type StructOf<R extends Fields, O extends Fields> = { [K in keyof R]: Infer<R[K]> } & {
  [K in keyof O]?: Infer<O[K]>
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array) &&
    CID.asCID(value) === null
  )
}

/** A map with exactly the required fields, plus any of the optional ones, and nothing else. */
export function struct<R extends Fields, O extends Fields = Record<never, never>>(
  required: R,
  optional?: O,
): Decoder<StructOf<R, O>> {
  const requiredKeys = Object.keys(required)
  const optionalKeys = Object.keys(optional ?? {})
  const known = new Set([...requiredKeys, ...optionalKeys])
  return (value, path) => {
    if (!isPlainObject(value)) return wrongType(path, 'a map', value)
    for (const key of Object.keys(value)) {
      if (!known.has(key))
        return err(decodeError('extra-field', path, `unexpected field "${key.slice(0, 64)}"`))
    }
    const out: Record<string, unknown> = {}
    for (const key of requiredKeys) {
      if (!(key in value)) return err(decodeError('missing-field', path, `missing field "${key}"`))
      const r = required[key]!(value[key], path ? `${path}.${key}` : key)
      if (!r.ok) return r
      out[key] = r.value
    }
    for (const key of optionalKeys) {
      if (!(key in value)) continue
      const r = optional![key]!(value[key], path ? `${path}.${key}` : key)
      if (!r.ok) return r
      out[key] = r.value
    }
    return ok(out as StructOf<R, O>)
  }
}

/**
 * A discriminated union on a `type` field: the tag picks the struct decoder. An unknown tag
 * is its own error code, so a node can tell "newer peer" from "garbage".
 */
export function tagged<const V extends Record<string, Decoder<object>>>(
  variants: V,
): Decoder<{ [K in keyof V]: Infer<V[K]> & { type: K } }[keyof V]> {
  return (value, path) => {
    if (!isPlainObject(value)) return wrongType(path, 'a map', value)
    const tag = value.type
    if (typeof tag !== 'string') return err(decodeError('missing-field', path, 'missing string field "type"'))
    const variant = Object.hasOwn(variants, tag) ? variants[tag] : undefined
    if (!variant) return err(decodeError('unknown-type', path, `unknown type "${tag.slice(0, 64)}"`))
    const r = variant(value, path)
    if (!r.ok) return r
    return ok(r.value as never)
  }
}

/** A struct field holding the literal tag, for use inside `tagged` variants. */
export function literal<const T extends string>(tag: T): Decoder<T> {
  return (value, path) =>
    value === tag ? ok(tag) : err(decodeError('out-of-range', path, `expected "${tag}"`))
}
