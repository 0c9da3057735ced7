/**
 * Whether a package's `engines.node` range admits a Node.js version: the range forms npm
 * packages use (`>=20`, `>= 10.x`, `^14.13.1 || >=16.0.0`, `<22`, `~18.1`, `*`), without a
 * semver dependency. An unparseable range counts as not admitting, so it gets looked at.
 */
type Version = [number, number, number]

function parse(text: string): Version | undefined {
  const m = /^v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(text.trim())
  if (!m) return undefined
  const n = (s: string | undefined) => (s === undefined || s === 'x' || s === '*' ? 0 : Number(s))
  return [n(m[1]), n(m[2]), n(m[3])]
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return 0
}

function admitsOne(comparator: string, v: Version): boolean | undefined {
  if (comparator === '*' || comparator === '') return true
  const m = /^(>=|<=|>|<|\^|~|=)?\s*(.+)$/.exec(comparator)
  const bound = m ? parse(m[2]!) : undefined
  if (!m || !bound) return undefined
  const c = compare(v, bound)
  switch (m[1]) {
    case '>=':
      return c >= 0
    case '>':
      return c > 0
    case '<=':
      return c <= 0
    case '<':
      return c < 0
    case '^':
      return c >= 0 && v[0] === bound[0]
    case '~':
      return c >= 0 && v[0] === bound[0] && v[1] === bound[1]
    default:
      return c === 0 || (m[2]!.includes('x') && v[0] === bound[0])
  }
}

export function admitsNode(range: string, version: string): boolean {
  const v = parse(version)
  if (!v) return false
  return range.split('||').some((alternative) => {
    // ">= 10.x": an operator and its version may be apart.
    const parts = alternative
      .trim()
      .replace(/(>=|<=|>|<|\^|~|=)\s+/g, '$1')
      .split(/\s+/)
    return parts.every((p) => admitsOne(p, v) === true)
  })
}
