import { describe, expect, it } from 'vitest'
import { compareVersions, parseSemVer } from '../../src/ledger/semver.js'

describe('ledger: semantic versions', () => {
  it('orders versions as semver.org §11 does', () => {
    const ordered = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.0.1',
      '1.1.0',
      '2.0.0',
      '10.0.0',
    ]
    for (let i = 0; i + 1 < ordered.length; i++) {
      expect(compareVersions(ordered[i]!, ordered[i + 1]!), `${ordered[i]} < ${ordered[i + 1]}`).toBeLessThan(
        0,
      )
      expect(
        compareVersions(ordered[i + 1]!, ordered[i]!),
        `${ordered[i + 1]} > ${ordered[i]}`,
      ).toBeGreaterThan(0)
    }
    expect(compareVersions('1.0.0+build.1', '1.0.0+build.2'), 'build metadata does not count').toBe(0)
  })

  it('refuses what is not semver', () => {
    for (const text of [
      '1',
      '1.2',
      '01.2.3',
      '1.2.3-',
      '1.2.3-01',
      'v1.2.3',
      '1.2.3.4',
      '99999999999999999999.0.0',
      `1.2.3-${'a'.repeat(70)}`,
    ]) {
      expect(parseSemVer(text), text).toBeUndefined()
    }
  })
})
