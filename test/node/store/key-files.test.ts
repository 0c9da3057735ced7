import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { keyPairFromSeed } from '../../../src/crypto/ed25519.js'
import { readKeyFile, writeKeyFile } from '../../../src/node/store/key-files.js'
import { tempDir } from '../../helpers/tmp.js'

const keys = keyPairFromSeed(new Uint8Array(32).fill(9))

describe('crypto: key files', () => {
  it('are written with mode 0600 and read back as the same key pair', async () => {
    const { dir, cleanup } = await tempDir('keys')
    try {
      const path = join(dir, 'node.key')
      expect((await writeKeyFile(path, keys)).ok).toBe(true)
      expect((await stat(path)).mode & 0o777).toBe(0o600)
      const read = await readKeyFile(path)
      expect(read.ok && read.value).toEqual(keys)
    } finally {
      await cleanup()
    }
  })

  it('refuse to load when others may read them, and say how to fix it', async () => {
    const { dir, cleanup } = await tempDir('keys')
    try {
      const path = join(dir, 'node.key')
      await writeKeyFile(path, keys)
      await chmod(path, 0o644)
      const read = await readKeyFile(path)
      expect(read.ok ? 'loaded' : read.error.code).toBe('too-open')
      if (!read.ok) expect(read.error.message).toContain('chmod 600')
    } finally {
      await cleanup()
    }
  })

  it('are never overwritten', async () => {
    const { dir, cleanup } = await tempDir('keys')
    try {
      const path = join(dir, 'node.key')
      await writeKeyFile(path, keys)
      const again = await writeKeyFile(path, keyPairFromSeed(new Uint8Array(32).fill(1)))
      expect(again.ok ? 'overwritten' : again.error.code).toBe('exists')
      const read = await readKeyFile(path)
      expect(read.ok && read.value).toEqual(keys)
    } finally {
      await cleanup()
    }
  })

  it('give a typed error for a missing, malformed, truncated or mismatched file', async () => {
    const { dir, cleanup } = await tempDir('keys')
    try {
      const good = join(dir, 'good.key')
      await writeKeyFile(good, keys)
      const text = await readFile(good, 'utf8')
      const doc = JSON.parse(text)
      const cases: Array<[string, string, string]> = [
        ['not json', '{"kind":', 'malformed'],
        ['truncated', text.slice(0, text.length / 2), 'malformed'],
        ['wrong kind', JSON.stringify({ ...doc, kind: 'ssh' }), 'malformed'],
        ['short secret', JSON.stringify({ ...doc, secretKey: 'abcd' }), 'malformed'],
        ['foreign public key', JSON.stringify({ ...doc, publicKey: '00'.repeat(32) }), 'mismatch'],
      ]
      for (const [name, content, code] of cases) {
        const path = join(dir, `${name.replace(/ /g, '-')}.key`)
        await writeFile(path, content, { mode: 0o600 })
        const read = await readKeyFile(path)
        expect(read.ok ? 'loaded' : read.error.code, name).toBe(code)
      }
      const missing = await readKeyFile(join(dir, 'nope.key'))
      expect(missing.ok ? 'loaded' : missing.error.code).toBe('not-found')
    } finally {
      await cleanup()
    }
  })
})
