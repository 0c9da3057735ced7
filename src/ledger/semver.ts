import { VERSION_LENGTH_MAX } from '../constants.js'

/** A parsed semantic version (semver.org 2.0.0). Build metadata is kept but never compared. */
export interface SemVer {
  readonly major: number
  readonly minor: number
  readonly patch: number
  readonly prerelease: readonly (string | number)[]
  readonly text: string
}

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/

/** Parses a version; undefined when it is not semver or its numbers are not safe integers. */
export function parseSemVer(text: string): SemVer | undefined {
  if (text.length > VERSION_LENGTH_MAX) return undefined
  const m = SEMVER.exec(text)
  if (!m) return undefined
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (![major, minor, patch].every(Number.isSafeInteger)) return undefined
  const prerelease = m[4] ? m[4].split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p)) : []
  return { major, minor, patch, prerelease, text }
}

/** Semver precedence: negative when a < b, zero when equal, positive when a > b. */
export function compareSemVer(a: SemVer, b: SemVer): number {
  if (a.major !== b.major) return a.major - b.major
  if (a.minor !== b.minor) return a.minor - b.minor
  if (a.patch !== b.patch) return a.patch - b.patch
  // A version without pre-release parts ranks above any pre-release of it.
  if (a.prerelease.length === 0 || b.prerelease.length === 0) return b.prerelease.length - a.prerelease.length
  const n = Math.min(a.prerelease.length, b.prerelease.length)
  for (let i = 0; i < n; i++) {
    const x = a.prerelease[i]!
    const y = b.prerelease[i]!
    if (x === y) continue
    if (typeof x === 'number' && typeof y === 'number') return x - y
    if (typeof x === 'number') return -1
    if (typeof y === 'number') return 1
    return x < y ? -1 : 1
  }
  return a.prerelease.length - b.prerelease.length
}

/** Compares two version strings that are known to parse. */
export function compareVersions(a: string, b: string): number {
  const pa = parseSemVer(a)
  const pb = parseSemVer(b)
  if (!pa || !pb) throw new RangeError(`not a semantic version: ${!pa ? a : b}`)
  return compareSemVer(pa, pb)
}
