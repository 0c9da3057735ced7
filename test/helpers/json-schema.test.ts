import { describe, expect, it } from 'vitest'
import { type JsonSchema, resolvePointer, unknownKeywords, validate } from './json-schema.js'

/** The validator behind the OpenAPI test: it must refuse what the schemas refuse, or that test proves nothing. */
describe('test helper: JSON Schema subset validator', () => {
  const valid = (schema: JsonSchema, value: unknown, root?: unknown) =>
    expect(validate(schema, value, root), JSON.stringify(value)).toEqual([])
  const invalid = (schema: JsonSchema, value: unknown, match: RegExp, root?: unknown) => {
    const errors = validate(schema, value, root)
    expect(errors.length, JSON.stringify(value)).toBeGreaterThan(0)
    expect(errors.join('\n')).toMatch(match)
  }

  it('checks types, a list of types, integer against number, and null', () => {
    valid({ type: 'integer' }, 3)
    invalid({ type: 'integer' }, 3.5, /expected integer, got number/)
    valid({ type: 'number' }, 3.5)
    invalid({ type: 'number' }, Number.NaN, /expected number/)
    valid({ type: ['string', 'null'] }, null)
    valid({ type: ['string', 'null'] }, 'x')
    invalid({ type: ['string', 'null'] }, 0, /expected string or null, got number/)
    invalid({ type: 'object' }, [], /expected object, got array/)
    invalid({ type: 'object' }, null, /expected object, got null/)
    valid({ type: 'array' }, [])
    invalid({ type: 'boolean' }, 'true', /expected boolean/)
  })

  it('checks properties, required ones, and refuses undocumented ones when additionalProperties is false', () => {
    const schema: JsonSchema = {
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'integer' } },
      required: ['a'],
      additionalProperties: false,
    }
    valid(schema, { a: 'x' })
    valid(schema, { a: 'x', b: 1 })
    invalid(schema, { b: 1 }, /missing required property "a"/)
    invalid(schema, { a: 1 }, /\$\.a: expected string/)
    invalid(schema, { a: 'x', c: true }, /\$\.c: property not allowed/)
    // Without additionalProperties: false, other properties pass; with a schema, they are checked.
    valid({ type: 'object', properties: { a: { type: 'string' } } }, { a: 'x', c: true })
    const map: JsonSchema = { type: 'object', additionalProperties: { type: 'integer' } }
    valid(map, { peer1: 3, peer2: 4 })
    invalid(map, { peer1: 'three' }, /\$\.peer1: expected integer/)
  })

  it('checks every item of an array, and minItems', () => {
    const schema: JsonSchema = { type: 'array', items: { type: 'string' }, minItems: 1 }
    valid(schema, ['a', 'b'])
    invalid(schema, ['a', 2], /\$\[1\]: expected string/)
    invalid(schema, [], /fewer than 1/)
  })

  it('checks enum, const, pattern, minimum and maximum', () => {
    valid({ enum: ['a', 'b'] }, 'b')
    invalid({ enum: ['a', 'b'] }, 'c', /is not one of/)
    valid({ const: 'committed' }, 'committed')
    invalid({ const: 'committed' }, 'pending', /expected "committed"/)
    valid({ type: 'string', pattern: '^[0-9a-f]{4}$' }, '0a1b')
    invalid({ type: 'string', pattern: '^[0-9a-f]{4}$' }, '0A1B', /does not match/)
    valid({ type: 'integer', minimum: 0, maximum: 10 }, 10)
    invalid({ type: 'integer', minimum: 0 }, -1, /-1 < 0/)
    invalid({ type: 'integer', maximum: 10 }, 11, /11 > 10/)
  })

  it('follows $ref into the document, and keeps the sibling keywords of a $ref', () => {
    const root = {
      components: {
        schemas: {
          Peer: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
          'a/b': { type: 'integer' },
        },
      },
    }
    valid({ $ref: '#/components/schemas/Peer' }, { id: 'p' }, root)
    invalid({ $ref: '#/components/schemas/Peer' }, {}, /missing required property "id"/, root)
    valid({ type: 'array', items: { $ref: '#/components/schemas/Peer' } }, [{ id: 'p' }], root)
    valid({ $ref: '#/components/schemas/a~1b' }, 1, root)
    expect(() => validate({ $ref: '#/components/schemas/Nobody' }, 1, root)).toThrow(/names nothing/)
    expect(resolvePointer(root, '#/components/schemas/a~1b')).toEqual({ type: 'integer' })
  })

  it('passes oneOf when exactly one branch matches', () => {
    const schema: JsonSchema = {
      oneOf: [
        {
          type: 'object',
          properties: { status: { const: 'committed' }, height: { type: 'integer' } },
          required: ['status', 'height'],
          additionalProperties: false,
        },
        {
          type: 'object',
          properties: { status: { const: 'pending' } },
          required: ['status'],
          additionalProperties: false,
        },
      ],
    }
    valid(schema, { status: 'committed', height: 3 })
    valid(schema, { status: 'pending' })
    invalid(schema, { status: 'pending', height: 3 }, /matches none of oneOf/)
    invalid(schema, { status: 'committed' }, /matches none of oneOf/)
    invalid({ oneOf: [{ type: 'integer' }, { type: 'number' }] }, 3, /matches 2 of oneOf/)
  })

  it('refuses keywords it does not implement, rather than ignoring them', () => {
    expect(() => validate({ type: 'string', maxLength: 3 }, 'abcd')).toThrow(
      /unsupported schema keywords maxLength/,
    )
    expect(unknownKeywords({ type: 'object', properties: { a: { anyOf: [] } }, description: 'x' })).toEqual([
      '$.properties.a: anyOf',
    ])
    expect(unknownKeywords({ items: { oneOf: [{ allOf: [] }] } })).toEqual(['$.items.oneOf[0]: allOf'])
  })
})
