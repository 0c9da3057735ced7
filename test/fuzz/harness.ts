import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { afterAll, describe, expect, it } from 'vitest'
import { DECODE_ERROR_CODES } from '../../src/codec/cbor.js'
import { cidOf } from '../../src/codec/cid.js'
import { CBOR_DEPTH_MAX } from '../../src/constants.js'

/**
 * Seeded fast-check properties over every decoder of bytes from the network or the disk.
 *
 * Each decoder gets FWMESH_FUZZ_CASES cases in all (1,000 in `npm test`, 100,000 in
 * `npm run test:fuzz`), shared by three generators: arbitrary bytes, valid encodings mutated
 * as bytes (flips, truncation, insertion, huge length headers, deep nesting, splices), and
 * valid values mutated as values and re-encoded canonically, so the cases get past the first
 * byte check into the schemas and the checks behind them. Every case must end in an accepted
 * value or a typed rejection (the check asserts the type and code); a throw, a rejection of
 * another type or an unhandled rejection fails the run. Seeds are fixed per property (from
 * FWMESH_FUZZ_SEED and the property's name) and printed in the test's name, and fast-check
 * prints the seed and path of any failure, so `FWMESH_FUZZ_SEED=<seed>` reproduces it.
 */

function envInt(name: string, fallback: number): number {
  const text = process.env[name]
  if (text === undefined || text === '') return fallback
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a whole number, not "${text}"`)
  return n
}

/** Cases per decoder, over all its properties. */
export const CASES_PER_DECODER = envInt('FWMESH_FUZZ_CASES', 1_000)
/** The base seed every property's seed derives from. */
export const BASE_SEED = envInt('FWMESH_FUZZ_SEED', 19)

/** A fixed seed per property: FNV-1a of its name, mixed with the base seed. */
export function seedOf(name: string): number {
  let h = 0x811c9dc5 ^ BASE_SEED
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193)
  return h | 0
}

/** Whether an outcome is acceptable; a string says what is wrong with it. */
export type Verdict = { readonly accepted: true } | { readonly rejected: string } | { readonly wrong: string }

/**
 * The verdict on a `Result` whose error must be a `DecodeError` (or one of `extraCodes`): an
 * object with a known `code`, a string `path` and a non-empty `message`.
 */
export function decodeResultVerdict(result: unknown, extraCodes: readonly string[] = []): Verdict {
  if (typeof result !== 'object' || result === null || !('ok' in result))
    return { wrong: `not a Result: ${String(result)}` }
  const r = result as { ok: boolean; error?: unknown }
  if (r.ok === true) return { accepted: true }
  const e = r.error as { code?: unknown; path?: unknown; message?: unknown } | undefined
  if (typeof e !== 'object' || e === null) return { wrong: `an error that is not an object: ${String(e)}` }
  const known =
    (DECODE_ERROR_CODES as readonly unknown[]).includes(e.code) || extraCodes.includes(e.code as string)
  if (!known) return { wrong: `an error with unknown code ${String(e.code)}` }
  if (typeof e.path !== 'string') return { wrong: `an error without a string path (code ${String(e.code)})` }
  if (typeof e.message !== 'string' || e.message.length === 0)
    return { wrong: `an error without a message (code ${String(e.code)})` }
  return { rejected: e.code as string }
}

/** A case slower than this is listed in the decoder's totals line. */
const SLOW_CASE_MS = 250

/** Tallies of one decoder, printed when its file ends. */
export class Tally {
  cases = 0
  accepted = 0
  readonly rejected = new Map<string, number>()
  readonly byGenerator = new Map<string, number>()
  /** Cases that took long, for the report: a decoder slow on some input is a defect too. */
  readonly slow: string[] = []

  count(generator: string, verdict: Verdict): void {
    this.cases++
    this.byGenerator.set(generator, (this.byGenerator.get(generator) ?? 0) + 1)
    if ('accepted' in verdict) this.accepted++
    else if ('rejected' in verdict)
      this.rejected.set(verdict.rejected, (this.rejected.get(verdict.rejected) ?? 0) + 1)
  }

  line(name: string): string {
    const gens = [...this.byGenerator].map(([g, n]) => `${g} ${n}`).join(', ')
    const codes = [...this.rejected]
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c} ${n}`)
      .join(', ')
    const slow =
      this.slow.length > 0 ? `; ${this.slow.length} slow cases: ${this.slow.slice(0, 3).join('; ')}` : ''
    return `fuzz: ${name}: ${this.cases} cases (${gens}), 0 crashes; accepted ${this.accepted}; rejected: ${codes}${slow}`
  }
}

let unhandled = 0
process.on('unhandledRejection', () => {
  unhandled++
})

/** A decoder under fuzzing: valid encodings to start from, and how to run and judge one input. */
export interface FuzzTarget<R> {
  readonly name: string
  /** Valid encodings; each must be accepted (checked first, so mutations start from valid input). */
  readonly corpus: readonly Uint8Array[]
  readonly run: (input: Uint8Array) => R | Promise<R>
  readonly verdict: (outcome: R) => Verdict
  /** Strings the value mutator may use as keys and values (type tags, field names). */
  readonly dictionary?: readonly string[]
  /** The largest input worth generating as arbitrary bytes. */
  readonly arbitraryBytesMax?: number
  /**
   * Generators and their shares of the cases, for inputs that are not DAG-CBOR (text, frame
   * streams). By default: arbitrary bytes 20 %, byte-mutated 40 %, value-mutated 40 %.
   */
  readonly generators?: ReadonlyArray<readonly [name: string, share: number, fc.Arbitrary<Uint8Array>]>
}

/** Declares the properties of one decoder. */
export function fuzz<R>(target: FuzzTarget<R>): void {
  const tally = new Tally()
  const dictionary = [...(target.dictionary ?? []), ...stringsOf(target.corpus)]
  const shared = target.generators ?? [
    ['bytes', 0.2, fc.uint8Array({ maxLength: target.arbitraryBytesMax ?? 512 })],
    ['mutated', 0.4, mutatedEncoding(target.corpus)],
    ['values', 0.4, mutatedValue(target.corpus, dictionary)],
  ]
  const total = shared.reduce((sum, [, share]) => sum + share, 0)
  const generators = shared.map(
    ([name, share, arbitrary]) =>
      [name, Math.max(1, Math.round((CASES_PER_DECODER * share) / total)), arbitrary] as const,
  )

  const judge = async (generator: string, input: Uint8Array): Promise<void> => {
    let outcome: R
    const started = performance.now()
    try {
      outcome = await target.run(input)
      const ms = performance.now() - started
      if (ms > SLOW_CASE_MS) tally.slow.push(`${generator}: ${ms.toFixed(0)} ms on ${input.byteLength} bytes`)
    } catch (cause) {
      const e = cause as Error
      throw new Error(`crash: ${e?.name}: ${e?.message}\n${e?.stack ?? ''}`)
    }
    const verdict = target.verdict(outcome)
    if ('wrong' in verdict) throw new Error(`not a typed rejection: ${verdict.wrong}`)
    tally.count(generator, verdict)
  }

  describe(`fuzz: ${target.name}`, () => {
    afterAll(() => {
      console.log(tally.line(target.name))
      expect(unhandled, 'unhandled promise rejections while fuzzing').toBe(0)
    })

    it('accepts every valid encoding it mutates', async () => {
      expect(target.corpus.length, 'a corpus to mutate').toBeGreaterThan(0)
      for (const [i, input] of target.corpus.entries()) {
        const verdict = target.verdict(await target.run(input))
        expect(verdict, `corpus entry ${i}`).toEqual({ accepted: true })
      }
    })

    for (const [generator, runs, arbitrary] of generators) {
      const seed = seedOf(`${target.name}/${generator}`)
      it(`${generator}: ${runs} cases, each accepted or a typed rejection (seed ${seed})`, async () => {
        await fc.assert(
          fc.asyncProperty(arbitrary, (input) => judge(generator, input)),
          { seed, numRuns: runs, endOnFailure: false },
        )
      })
    }
  })
}

// ---- Byte-level mutations of valid encodings ----

/** Headers that claim far more than any input holds: strings, arrays and maps of 2^16..2^64. */
const HUGE_HEADERS: readonly Uint8Array[] = [
  [0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [0x7b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00],
  [0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [0xbb, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff],
  [0x5a, 0x00, 0x40, 0x00, 0x00],
  [0x9a, 0x00, 0x01, 0x00, 0x00],
  [0xba, 0x7f, 0xff, 0xff, 0xff],
  [0x59, 0xff, 0xff],
  [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [0xd8, 0x2a],
  [0x9f],
  [0xff],
  [0xfb, 0x7f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
].map((h) => new Uint8Array(h))

/** Levels of nesting worth trying: around the limit, and far past it. */
const NEST_LEVELS = fc.oneof(
  fc.integer({ min: 1, max: CBOR_DEPTH_MAX + 4 }),
  fc.integer({ min: CBOR_DEPTH_MAX + 4, max: 10_000 }),
)

function pick<T>(items: readonly T[], n: number): T {
  return items[n % items.length]!
}

function cat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}

function nestPrefix(levels: number, map: boolean): Uint8Array {
  if (!map) return new Uint8Array(levels).fill(0x81)
  const out = new Uint8Array(levels * 3)
  for (let i = 0; i < levels; i++) out.set([0xa1, 0x61, 0x61], i * 3)
  return out
}

/** A valid encoding changed as bytes. */
export function mutatedEncoding(corpus: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const entry = fc.nat().map((n) => pick(corpus, n))
  const position = fc.nat()
  return fc.oneof(
    // Bytes overwritten at a few places.
    fc
      .tuple(
        entry,
        fc.array(fc.tuple(position, fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      )
      .map(([e, edits]) => {
        const out = new Uint8Array(e)
        for (const [at, value] of edits) if (out.length > 0) out[at % out.length] = value
        return out
      }),
    // Single bits flipped.
    fc
      .tuple(entry, fc.array(position, { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 7 }))
      .map(([e, ats, bit]) => {
        const out = new Uint8Array(e)
        for (const at of ats) if (out.length > 0) out[at % out.length]! ^= 1 << bit
        return out
      }),
    // Truncated.
    fc.tuple(entry, position).map(([e, at]) => e.subarray(0, at % (e.length + 1))),
    // Bytes inserted.
    fc.tuple(entry, position, fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([e, at, bytes]) => {
      const i = at % (e.length + 1)
      return cat(e.subarray(0, i), bytes, e.subarray(i))
    }),
    // A range deleted.
    fc.tuple(entry, position, fc.integer({ min: 1, max: 64 })).map(([e, at, n]) => {
      const i = at % (e.length + 1)
      return cat(e.subarray(0, i), e.subarray(i + n))
    }),
    // A header claiming a huge length, over the bytes at a position or in front of them.
    fc.tuple(entry, position, fc.nat(), fc.boolean()).map(([e, at, h, overwrite]) => {
      const header = pick(HUGE_HEADERS, h)
      const i = at % (e.length + 1)
      return cat(e.subarray(0, i), header, e.subarray(overwrite ? i + header.length : i))
    }),
    // Nested deeply, around the whole value or at a position.
    fc.tuple(entry, NEST_LEVELS, fc.boolean(), fc.option(position)).map(([e, levels, map, at]) => {
      const i = at === null ? 0 : at % (e.length + 1)
      return cat(e.subarray(0, i), nestPrefix(levels, map), e.subarray(i))
    }),
    // The head of one valid encoding and the tail of another.
    fc
      .tuple(entry, entry, position, position)
      .map(([a, b, i, j]) => cat(a.subarray(0, i % (a.length + 1)), b.subarray(j % (b.length + 1)))),
    // A slice repeated.
    fc
      .tuple(entry, position, fc.integer({ min: 1, max: 32 }), fc.integer({ min: 2, max: 64 }))
      .map(([e, at, n, times]) => {
        const i = at % (e.length + 1)
        const slice = e.subarray(i, i + n)
        return cat(e.subarray(0, i), ...Array.from({ length: times }, () => slice), e.subarray(i + n))
      }),
  )
}

// ---- Value-level mutations of valid encodings, re-encoded canonically ----

/** The largest re-encoded value: over every control message's limit, and quick to encode. */
const MUTATED_VALUE_BYTES_MAX = 64 * 1024

/**
 * Nesting added to a value: around the limit, and past it only as far as the encoder's stack
 * allows cheaply (encoding 10,000 levels to find that it overflows cost most of the
 * generator's time). The byte mutations nest 10,000 levels deep.
 */
const VALUE_NEST_LEVELS = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: CBOR_DEPTH_MAX + 4 }) },
  { weight: 1, arbitrary: fc.integer({ min: CBOR_DEPTH_MAX + 4, max: 1_000 }) },
)

const SAMPLE_CID = cidOf({ fuzz: 1 })

const EDGE_NUMBERS = [
  0,
  1,
  -1,
  23,
  24,
  255,
  256,
  65_535,
  65_536,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 53 - 1,
  -(2 ** 53 - 1),
  0.5,
  -0.5,
  1e300,
]

/** Any value DAG-CBOR can encode, biased to the dictionary's strings and to edge numbers. */
export function cborValue(dictionary: readonly string[]): fc.Arbitrary<unknown> {
  const words = dictionary.length > 0 ? dictionary : ['type']
  const leaf = fc.oneof(
    fc.integer(),
    fc.constantFrom(...EDGE_NUMBERS),
    fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.string({ maxLength: 16 }),
    fc.constantFrom(...words),
    fc.uint8Array({ maxLength: 80 }),
    fc.constantFrom(new Uint8Array(32), new Uint8Array(64), new Uint8Array(33)),
    fc.constant(SAMPLE_CID),
  )
  const { value } = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('map')),
    array: fc.array(tie('value'), { maxLength: 4 }),
    map: fc.dictionary(fc.oneof(fc.constantFrom(...words), fc.string({ maxLength: 8 })), tie('value'), {
      maxKeys: 4,
    }),
  }))
  return value
}

type Op =
  | { kind: 'replace'; value: unknown }
  | { kind: 'delete' }
  | { kind: 'add'; key: string; value: unknown }
  | { kind: 'nest'; levels: number; map: boolean }
  | { kind: 'grow'; copies: number }
  | { kind: 'long-string'; length: number }
  | { kind: 'duplicate' }

function isMap(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array) &&
    CID.asCID(value) === null
  )
}

function tryDecode(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  if (bytes.length === 0 || bytes.length > 1 << 20) return { ok: false }
  try {
    return { ok: true, value: dagCbor.decode(bytes) }
  } catch {
    return { ok: false }
  }
}

function applyHere(node: unknown, op: Op): unknown {
  switch (op.kind) {
    case 'replace':
      return op.value
    case 'delete':
      return null
    case 'add':
      if (Array.isArray(node)) return [...node, op.value]
      if (isMap(node)) return { ...node, [op.key]: op.value }
      return op.value
    case 'nest': {
      let out = node
      for (let i = 0; i < op.levels; i++) out = op.map ? { a: out } : [out]
      return out
    }
    case 'grow': {
      // As many copies as stay under the size cap: encoding a million copies to find out that
      // they are too many took minutes.
      let size = MUTATED_VALUE_BYTES_MAX
      try {
        size = Math.max(1, dagCbor.encode(node).byteLength)
      } catch {}
      const copies = Math.max(2, Math.min(op.copies, Math.floor(MUTATED_VALUE_BYTES_MAX / size)))
      return Array.from({ length: copies }, () => node)
    }
    case 'long-string':
      return typeof node === 'string' || typeof node === 'number'
        ? 'x'.repeat(op.length)
        : new Uint8Array(op.length)
    case 'duplicate':
      return [node, node]
  }
}

/** `node` with the operation applied at `path` (indices into arrays, keys and nested encodings). */
function mutateAt(node: unknown, path: readonly number[], op: Op): unknown {
  if (path.length === 0) return applyHere(node, op)
  const [step, ...rest] = path as [number, ...number[]]
  if (Array.isArray(node) && node.length > 0) {
    const i = step % node.length
    if (op.kind === 'delete' && rest.length === 0) return node.filter((_, j) => j !== i)
    const copy = [...node]
    copy[i] = mutateAt(node[i], rest, op)
    return copy
  }
  if (isMap(node)) {
    const keys = Object.keys(node)
    if (keys.length === 0) return applyHere(node, op)
    const key = keys[step % keys.length]!
    const copy = { ...node }
    if (op.kind === 'delete' && rest.length === 0) delete copy[key]
    else copy[key] = mutateAt(node[key], rest, op)
    return copy
  }
  if (node instanceof Uint8Array) {
    // Blocks carry transactions, transactions their bodies, chunk messages manifests: all as
    // encodings inside encodings. Mutating inside them reaches the inner decoders.
    const inner = tryDecode(node)
    if (inner.ok) {
      try {
        return dagCbor.encode(mutateAt(inner.value, rest, op))
      } catch {
        return node
      }
    }
  }
  return applyHere(node, op)
}

/** A valid encoding decoded, changed as a value in one to three places, and encoded canonically. */
export function mutatedValue(
  corpus: readonly Uint8Array[],
  dictionary: readonly string[],
): fc.Arbitrary<Uint8Array> {
  const documents = corpus.map((bytes) => {
    const decoded = tryDecode(bytes)
    return decoded.ok ? decoded.value : null
  })
  return mutatedTree(documents, (v) => new Uint8Array(dagCbor.encode(v)), cborValue(dictionary), dictionary)
}

/**
 * Documents (parsed values) changed in one to three places, then encoded with `encode`: for
 * formats other than DAG-CBOR (TOML, JSON), with leaves they can hold. A step whose result
 * cannot be encoded, or encodes past MUTATED_VALUE_BYTES_MAX, is skipped.
 */
export function mutatedTree(
  documents: readonly unknown[],
  encode: (value: unknown) => Uint8Array,
  value: fc.Arbitrary<unknown>,
  dictionary: readonly string[],
): fc.Arbitrary<Uint8Array> {
  const words = dictionary.length > 0 ? dictionary : ['type']
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: value.map((v) => ({ kind: 'replace' as const, value: v })) },
    { weight: 2, arbitrary: fc.constant({ kind: 'delete' as const }) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.oneof(fc.constantFrom(...words), fc.string({ maxLength: 8 })), value)
        .map(([key, v]) => ({ kind: 'add' as const, key, value: v })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(VALUE_NEST_LEVELS, fc.boolean())
        .map(([levels, map]) => ({ kind: 'nest' as const, levels, map })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 2, max: 1_000 }).map((copies) => ({ kind: 'grow' as const, copies })),
    },
    {
      weight: 1,
      arbitrary: fc
        .oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 300, max: 40_000 }))
        .map((length) => ({ kind: 'long-string' as const, length })),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'duplicate' as const }) },
  )
  const encoded = documents.map((d) => {
    try {
      return encode(d)
    } catch {
      return new Uint8Array(0)
    }
  })
  return fc
    .tuple(
      fc.nat(),
      fc.array(fc.tuple(fc.array(fc.nat(), { maxLength: 8 }), op), { minLength: 1, maxLength: 3 }),
    )
    .map(([n, steps]) => {
      const i = n % documents.length
      let current = documents[i]
      let bytes = encoded[i]!
      for (const [path, o] of steps) {
        const next = mutateAt(current, path, o)
        try {
          const out = encode(next)
          // Past every decoder's size limit, bigger inputs only cost time: keep the last step
          // under the cap instead.
          if (out.byteLength > MUTATED_VALUE_BYTES_MAX) continue
          current = next
          bytes = out
        } catch {
          // Not encodable (nested past the encoder's stack, a value the format lacks): skip it.
        }
      }
      return bytes
    })
}

/** Every string (keys and values) in the valid encodings: type tags and field names to reuse. */
export function stringsOf(corpus: readonly Uint8Array[]): string[] {
  const out = new Set<string>()
  const visit = (v: unknown, depth: number): void => {
    if (depth > 32 || out.size > 512) return
    if (typeof v === 'string') out.add(v)
    else if (Array.isArray(v)) for (const x of v) visit(x, depth + 1)
    else if (v instanceof Uint8Array) {
      const inner = tryDecode(v)
      if (inner.ok) visit(inner.value, depth + 1)
    } else if (isMap(v))
      for (const [k, x] of Object.entries(v)) {
        out.add(k)
        visit(x, depth + 1)
      }
  }
  for (const bytes of corpus) {
    const decoded = tryDecode(bytes)
    if (decoded.ok) visit(decoded.value, 0)
  }
  return [...out].filter((s) => s.length <= 64)
}
