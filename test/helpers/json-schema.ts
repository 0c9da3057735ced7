/**
 * A JSON Schema (2020-12) validator for the subset docs/api/openapi.json uses, so the OpenAPI
 * test needs no dependency: `type` (one or a list, `integer` and `null` included),
 * `properties`, `required`, `additionalProperties` (false or a schema), `items`, `minItems`,
 * `enum`, `const`, `pattern`, `minimum`, `maximum`, `oneOf`, and `$ref` to a JSON pointer in
 * the same document (`#/components/schemas/Name`). Annotations (`description`, `format`, ...)
 * are ignored; any other keyword throws, so a document cannot lean on one this file skips.
 */

export type JsonSchema = boolean | { readonly [keyword: string]: unknown }

const ASSERTIONS = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minItems',
  'enum',
  'const',
  'pattern',
  'minimum',
  'maximum',
  'oneOf',
  '$ref',
])
const ANNOTATIONS = new Set([
  'description',
  'title',
  'format',
  'examples',
  'default',
  'deprecated',
  '$comment',
])

/** The keywords of `schema` and the schemas inside it that this validator does not know. */
export function unknownKeywords(schema: JsonSchema, path = '$'): string[] {
  if (typeof schema === 'boolean') return []
  const out: string[] = []
  for (const [keyword, value] of Object.entries(schema)) {
    if (!ASSERTIONS.has(keyword) && !ANNOTATIONS.has(keyword)) out.push(`${path}: ${keyword}`)
    if (keyword === 'properties')
      for (const [name, sub] of Object.entries(value as Record<string, JsonSchema>))
        out.push(...unknownKeywords(sub, `${path}.properties.${name}`))
    if (keyword === 'items' || keyword === 'additionalProperties')
      out.push(...unknownKeywords(value as JsonSchema, `${path}.${keyword}`))
    if (keyword === 'oneOf')
      for (const [i, sub] of (value as JsonSchema[]).entries())
        out.push(...unknownKeywords(sub, `${path}.oneOf[${i}]`))
  }
  return out
}

/** The value a JSON pointer (`#/a/b`) names in `root`; throws when it names nothing. */
export function resolvePointer(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) throw new Error(`only local $refs are supported, not ${ref}`)
  let at: unknown = root
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (at === null || typeof at !== 'object' || !Object.hasOwn(at, token))
      throw new Error(`$ref ${ref} names nothing`)
    at = (at as Record<string, unknown>)[token]
  }
  return at
}

function typeOf(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'null':
      return value === null
    case 'boolean':
    case 'string':
      return typeof value === type
    case 'number':
      return typeof value === 'number' && Number.isFinite(value)
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value)
    case 'array':
      return Array.isArray(value)
    case 'object':
      return typeOf(value) === 'object'
    default:
      throw new Error(`unknown type "${type}"`)
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeOf(value) === 'object'
}

/** Deep equality of JSON values, for `enum` and `const`. */
function jsonEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

const show = (value: unknown) => JSON.stringify(value)?.slice(0, 80) ?? String(value)

/**
 * Every way `value` fails `schema`, as "path: what" lines; empty when it is valid. `root` is
 * the document `$ref`s point into.
 */
export function validate(schema: JsonSchema, value: unknown, root: unknown = schema, path = '$'): string[] {
  if (schema === true) return []
  if (schema === false) return [`${path}: no value is allowed here`]
  const unknown = Object.keys(schema).filter((k) => !ASSERTIONS.has(k) && !ANNOTATIONS.has(k))
  if (unknown.length > 0) throw new Error(`${path}: unsupported schema keywords ${unknown.join(', ')}`)
  const s = schema as Record<string, unknown>
  const errors: string[] = []

  if (typeof s.$ref === 'string')
    errors.push(...validate(resolvePointer(root, s.$ref) as JsonSchema, value, root, path))
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string]
    if (!types.some((t) => hasType(value, t)))
      return [...errors, `${path}: expected ${types.join(' or ')}, got ${typeOf(value)} ${show(value)}`]
  }
  if (s.const !== undefined && !jsonEqual(value, s.const))
    errors.push(`${path}: expected ${show(s.const)}, got ${show(value)}`)
  if (Array.isArray(s.enum) && !s.enum.some((e) => jsonEqual(value, e)))
    errors.push(`${path}: ${show(value)} is not one of ${show(s.enum)}`)
  if (typeof value === 'string' && typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(value))
    errors.push(`${path}: ${show(value)} does not match /${s.pattern}/`)
  if (typeof value === 'number') {
    if (typeof s.minimum === 'number' && value < s.minimum) errors.push(`${path}: ${value} < ${s.minimum}`)
    if (typeof s.maximum === 'number' && value > s.maximum) errors.push(`${path}: ${value} > ${s.maximum}`)
  }
  if (Array.isArray(value)) {
    if (typeof s.minItems === 'number' && value.length < s.minItems)
      errors.push(`${path}: ${value.length} items, fewer than ${s.minItems}`)
    if (s.items !== undefined)
      for (const [i, item] of value.entries())
        errors.push(...validate(s.items as JsonSchema, item, root, `${path}[${i}]`))
  }
  if (isObject(value)) {
    const properties = (s.properties ?? {}) as Record<string, JsonSchema>
    for (const name of (s.required ?? []) as string[])
      if (!Object.hasOwn(value, name)) errors.push(`${path}: missing required property "${name}"`)
    for (const [name, v] of Object.entries(value)) {
      const at = `${path}.${name}`
      if (Object.hasOwn(properties, name)) errors.push(...validate(properties[name]!, v, root, at))
      else if (s.additionalProperties === false) errors.push(`${at}: property not allowed`)
      else if (s.additionalProperties !== undefined)
        errors.push(...validate(s.additionalProperties as JsonSchema, v, root, at))
    }
  }
  if (Array.isArray(s.oneOf)) {
    const results = (s.oneOf as JsonSchema[]).map((sub) => validate(sub, value, root, path))
    const passed = results.filter((r) => r.length === 0).length
    if (passed !== 1)
      errors.push(
        passed === 0
          ? `${path}: matches none of oneOf (${results.map((r) => r[0]).join(' | ')})`
          : `${path}: matches ${passed} of oneOf, not exactly one`,
      )
  }
  return errors
}
