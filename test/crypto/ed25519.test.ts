import * as ed from '@noble/ed25519'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fromHex, utf8 } from '../../src/codec/bytes.js'
import { SigningDomain } from '../../src/crypto/domains.js'
import {
  keyPairFromSeed,
  setVerifyMemo,
  sign,
  signNoble,
  smallOrderKeysForTests,
  strictChecksForTests,
  type VerifyBackend,
  VerifyMemo,
  verify,
  verifyRawForVectors,
} from '../../src/crypto/ed25519.js'

const hex = (h: string) => fromHex(h)!
const BACKENDS: VerifyBackend[] = ['node', 'noble']

// RFC 8032 §7.1, tests 1, 2, 3 and SHA(abc).
const VECTORS = [
  {
    name: 'TEST 1 (empty message)',
    secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2 (one byte)',
    secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    public: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'TEST 3 (two bytes)',
    secret: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    public: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
  {
    name: 'TEST SHA(abc)',
    secret: '833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42',
    public: 'ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf',
    message:
      'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
    signature:
      'dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704',
  },
]

// The eight points of small order (RFC 8032 torsion subgroup), canonical encodings.
const SMALL_ORDER = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
]

const L = 2n ** 252n + 27742317777372353535851937790883648493n

function addToS(signature: Uint8Array, add: bigint): Uint8Array {
  let s = 0n
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i]!)
  s += add
  const out = new Uint8Array(signature)
  for (let i = 32; i < 64; i++) {
    out[i] = Number(s & 0xffn)
    s >>= 8n
  }
  return out
}

describe('crypto: ed25519 against RFC 8032', () => {
  for (const v of VECTORS) {
    it(`${v.name}: derives the public key, signs the same bytes, and both backends verify`, () => {
      const keys = keyPairFromSeed(hex(v.secret))
      expect(keys.publicKey).toEqual(hex(v.public))
      for (const backend of BACKENDS) {
        expect(verifyRawForVectors(hex(v.public), hex(v.message), hex(v.signature), backend), backend).toBe(
          true,
        )
        const wrong = hex(v.signature)
        wrong[0]! ^= 1
        expect(
          verifyRawForVectors(hex(v.public), hex(v.message), wrong, backend),
          `${backend}, flipped R`,
        ).toBe(false)
      }
    })
  }

  it('gives one verdict on both backends for a non-canonical S (S + L), which neither accepts', () => {
    for (const v of VECTORS) {
      const malleated = addToS(hex(v.signature), L)
      for (const backend of BACKENDS) {
        expect(
          verifyRawForVectors(hex(v.public), hex(v.message), malleated, backend),
          `${v.name} ${backend}`,
        ).toBe(false)
      }
    }
  })

  it('refuses every small-order public key on both backends, even with a signature lax verifiers accept', () => {
    // R = identity and S = 0 satisfies [S]B = R + [k]A for any small-order A in a lax verifier.
    const trivial = new Uint8Array(64)
    trivial[0] = 1
    for (const key of SMALL_ORDER) {
      for (const backend of BACKENDS) {
        expect(verifyRawForVectors(hex(key), utf8('anything'), trivial, backend), `${key} ${backend}`).toBe(
          false,
        )
      }
    }
  })

  it('knows exactly the eight small-order points: the torsion subgroup, derived from the curve', () => {
    // [L]Q keeps only Q's torsion component; a component of order 8 generates all eight.
    const torsionOf = (q: ed.Point) => q.multiply(L - 1n).add(q)
    let generator: ed.Point | undefined
    for (let y = 3; generator === undefined; y++) {
      const encoded = new Uint8Array(32)
      encoded[0] = y
      let q: ed.Point
      try {
        q = ed.Point.fromBytes(encoded)
      } catch {
        continue // no point with this y
      }
      const t = torsionOf(q)
      if (!t.multiply(4n).is0()) generator = t
    }
    const derived = new Set<string>()
    let p = ed.Point.ZERO
    for (let k = 0; k < 8; k++) {
      derived.add(Buffer.from(p.toBytes()).toString('hex'))
      p = p.add(generator)
    }
    expect([...derived].sort()).toEqual([...SMALL_ORDER].sort())
    expect(smallOrderKeysForTests().sort(), 'the list verify refuses').toEqual([...derived].sort())
  })

  it('refuses a public key that is not a point on the curve, on both backends', () => {
    const v = VECTORS[1]!
    const offCurve = new Uint8Array(32)
    offCurve[0] = 2 // y = 2: (y² - 1)/(d·y² + 1) has no square root
    expect(() => ed.Point.fromBytes(offCurve)).toThrow()
    for (const backend of BACKENDS) {
      expect(verifyRawForVectors(offCurve, hex(v.message), hex(v.signature), backend), backend).toBe(false)
    }
  })

  it('refuses wrong lengths and non-canonical point encodings without throwing, on both backends', () => {
    const v = VECTORS[1]!
    const pub = hex(v.public)
    const sig = hex(v.signature)
    const nonCanonicalY = new Uint8Array(32).fill(0xff)
    nonCanonicalY[31] = 0x7f // y = 2^255 - 1 ≥ p
    const inputs: Array<[string, Uint8Array, Uint8Array]> = [
      ['31-byte key', pub.subarray(0, 31), sig],
      ['33-byte key', new Uint8Array([...pub, 0]), sig],
      ['63-byte signature', pub, sig.subarray(0, 63)],
      ['65-byte signature', pub, new Uint8Array([...sig, 0])],
      ['empty signature', pub, new Uint8Array(0)],
      ['key with y ≥ p', nonCanonicalY, sig],
      ['R with y ≥ p', pub, new Uint8Array([...nonCanonicalY, ...sig.subarray(32)])],
    ]
    for (const [name, key, signature] of inputs) {
      for (const backend of BACKENDS) {
        expect(verifyRawForVectors(key, hex(v.message), signature, backend), `${name} ${backend}`).toBe(false)
      }
    }
  })
})

describe('crypto: signatures in fwmesh', () => {
  const keys = keyPairFromSeed(new Uint8Array(32).fill(5))

  it('signs identically with node:crypto and noble, and each verifies the other', () => {
    const message = utf8('release 1.2.3')
    const a = sign(keys.secretKey, SigningDomain.tx, message)
    const b = signNoble(keys.secretKey, SigningDomain.tx, message)
    expect(a).toEqual(b)
    for (const backend of BACKENDS)
      expect(verify(keys.publicKey, SigningDomain.tx, message, b, backend)).toBe(true)
  })

  it('never accepts a signature made for one domain in another', () => {
    const message = utf8('the same bytes')
    const signature = sign(keys.secretKey, SigningDomain.tx, message)
    for (const domain of Object.values(SigningDomain)) {
      for (const backend of BACKENDS) {
        expect(verify(keys.publicKey, domain, message, signature, backend), `${domain} ${backend}`).toBe(
          domain === SigningDomain.tx,
        )
      }
    }
  })

  it('gives identical verdicts on both backends for random keys, messages and mutations (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(64 + 32 + 199),
        fc.integer({ min: 1, max: 255 }),
        (seed, message, position, xor) => {
          const k = keyPairFromSeed(seed)
          const signature = sign(k.secretKey, SigningDomain.tx, message)
          const [pub, sig, msg] = [
            new Uint8Array(k.publicKey),
            new Uint8Array(signature),
            new Uint8Array(message),
          ]
          // Mutate one byte of the signature, the key or the message.
          if (position < 64) sig[position]! ^= xor
          else if (position < 96) pub[position - 64]! ^= xor
          else if (msg.length > 0) msg[(position - 96) % msg.length]! ^= xor
          const node = verify(pub, SigningDomain.tx, msg, sig, 'node')
          const noble = verify(pub, SigningDomain.tx, msg, sig, 'noble')
          expect(node).toBe(noble)
          // A mutation never verifies; an empty message with a message mutation is no mutation.
          if (position < 96 || msg.length > 0) expect(node).toBe(false)
        },
      ),
      { seed: 8032, numRuns: 300 },
    )
  })
})

describe('crypto: strict encoding checks', () => {
  const P = 2n ** 255n - 19n
  const toBytes = (n: bigint) => {
    const out = new Uint8Array(32)
    for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn)
    return out
  }
  const { isBelowL, isCanonicalPoint } = strictChecksForTests
  // Values near the boundaries, where a byte-wise comparison is most likely to be wrong.
  const near = (x: bigint) => fc.integer({ min: -300, max: 300 }).map((d) => x + BigInt(d))
  const any256 = fc.bigInt({ min: 0n, max: 2n ** 256n - 1n })

  it('S < L agrees with arithmetic, at the boundary and anywhere', () => {
    fc.assert(
      fc.property(fc.oneof(near(L), near(0n), fc.bigInt({ min: 0n, max: 2n ** 256n - 1n })), (s) => {
        if (s < 0n || s >= 2n ** 256n) return
        expect(isBelowL(toBytes(s))).toBe(s < L)
      }),
      { seed: 11, numRuns: 3000 },
    )
  })

  it('canonical point encodings agree with arithmetic: y < p, and no sign bit when x = 0', () => {
    fc.assert(
      fc.property(
        fc.oneof(near(P), near(P + 2n ** 255n), near(1n), near(2n ** 255n + 1n), any256),
        (encoded) => {
          if (encoded < 0n || encoded >= 2n ** 256n) return
          const y = encoded & (2n ** 255n - 1n)
          const sign = encoded >> 255n === 1n
          const expected = y < P && !(sign && (y === 1n || y === P - 1n))
          expect(isCanonicalPoint(toBytes(encoded)), `y=${y} sign=${sign}`).toBe(expected)
        },
      ),
      { seed: 12, numRuns: 3000 },
    )
  })
})

describe('crypto: the simulator’s verdict memo', () => {
  it('returns exactly what verification returns: same bytes hit, any other key, message or domain misses', () => {
    const a = keyPairFromSeed(new Uint8Array(32).fill(1))
    const b = keyPairFromSeed(new Uint8Array(32).fill(2))
    const message = utf8('report')
    const sig = sign(a.secretKey, SigningDomain.tx, message)
    const memo = new VerifyMemo(2)
    setVerifyMemo(memo)
    try {
      expect(verify(a.publicKey, SigningDomain.tx, message, sig)).toBe(true)
      expect(memo.size).toBe(1)
      expect(verify(a.publicKey, SigningDomain.tx, message, sig)).toBe(true)
      // The same signature bytes over other input are checked, not taken from the memo.
      expect(verify(b.publicKey, SigningDomain.tx, message, sig)).toBe(false)
      expect(verify(a.publicKey, SigningDomain.tx, utf8('other'), sig)).toBe(false)
      expect(verify(a.publicKey, SigningDomain.commit, message, sig)).toBe(false)
      expect(verify(a.publicKey, SigningDomain.tx, message, sig)).toBe(true)
      // Bounded: cleared when full.
      expect(memo.size).toBeLessThanOrEqual(2)
    } finally {
      setVerifyMemo(null)
    }
  })

  it('refuses a key the checks refuse with the memo on, and keeps no verdict for it', () => {
    const trivial = new Uint8Array(64)
    trivial[0] = 1
    const memo = new VerifyMemo(100)
    setVerifyMemo(memo)
    try {
      for (const key of SMALL_ORDER) {
        for (let round = 0; round < 2; round++)
          expect(verify(hex(key), SigningDomain.tx, utf8('anything'), trivial), key).toBe(false)
      }
      expect(memo.size).toBe(0)
    } finally {
      setVerifyMemo(null)
    }
  })
})

describe('crypto: ed25519 key derivation', () => {
  it('node:crypto derives the same public key and signatures as @noble/ed25519 for any seed', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 64 }),
        (seed, msg) => {
          const k = keyPairFromSeed(seed)
          expect(k.publicKey).toEqual(ed.getPublicKey(seed))
          expect(sign(k.secretKey, SigningDomain.tx, msg)).toEqual(
            signNoble(k.secretKey, SigningDomain.tx, msg),
          )
        },
      ),
      { numRuns: 200 },
    )
  })
})
