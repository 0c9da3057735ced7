import { spawn } from 'node:child_process'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { freePort } from '../../scripts/fleet.js'
import { didFromPublicKey } from '../../src/crypto/did.js'
import { DevBlockBuilder, makeDevChain, TxFactory } from '../../src/ledger/dev-chain.js'
import { genesisToJson } from '../../src/ledger/genesis.js'
import { dataLayout } from '../../src/node/layout.js'
import { readKeyFile } from '../../src/node/store/key-files.js'
import { LevelLedgerStore } from '../../src/node/store/level-ledger-store.js'
import { FWMESH_BIN, runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/tmp.js'

describe('cli: commands that need no node', () => {
  it('prints its version, the one in package.json', async () => {
    const pkg = JSON.parse(await readFile(join(import.meta.dirname, '../../package.json'), 'utf8'))
    const r = await runCli(['--version'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe(pkg.version)
  })

  it('keygen writes a 0600 key file and prints its did and peer id, and refuses to overwrite it', async () => {
    const { dir, cleanup } = await tempDir('cli-keygen')
    try {
      const path = join(dir, 'a.key')
      const first = await runCli(['--json', 'keygen', '--out', path])
      expect(first.code, first.stderr).toBe(0)
      const printed = JSON.parse(first.stdout)
      expect(printed.did).toMatch(/^did:key:z6Mk/)
      // The peer id a node with this key has in its multiaddrs, as libp2p derives it.
      const read = await readKeyFile(path)
      if (!read.ok) throw new Error(read.error.message)
      const expected = peerIdFromPublicKey(publicKeyFromRaw(read.value.publicKey) as never).toString()
      expect(printed.peerId).toBe(expected)
      const human = await runCli(['keygen', '--out', join(dir, 'b.key')])
      expect(human.stdout).toMatch(/^did:key:z6Mk\S+\npeer id 12D3KooW\S+\nwritten to /)
      expect((await stat(path)).mode & 0o777).toBe(0o600)
      const second = await runCli(['keygen', '--out', path])
      expect(second.code).toBe(1)
      expect(second.stderr.trim()).toBe(`fwmesh: ${path} already exists; refusing to overwrite a key file`)
    } finally {
      await cleanup()
    }
  })

  it('genesis init builds a valid genesis from key files and dids, and says which argument is wrong', async () => {
    const { dir, cleanup } = await tempDir('cli-genesis')
    try {
      const keys = ['v0', 'v1', 'v2', 'v3', 'admin'].map((n) => join(dir, `${n}.key`))
      for (const k of keys) expect((await runCli(['keygen', '--out', k])).code).toBe(0)
      const out = join(dir, 'genesis.json')
      const args = [
        'genesis',
        'init',
        '--chain-id',
        'fleet-1',
        '--threshold',
        '1',
        '--admin',
        keys[4]!,
        '--out',
        out,
      ]
      for (let i = 0; i < 4; i++) args.push('--validator', `v${i}=${keys[i]}`)
      const made = await runCli(['--json', ...args])
      expect(made.code, made.stderr).toBe(0)
      expect(JSON.parse(made.stdout)).toMatchObject({ chainId: 'fleet-1', validators: 4 })
      expect(JSON.parse(await readFile(out, 'utf8')).validators).toHaveLength(4)
      const shown = await runCli(['genesis', 'show', out])
      expect(shown.stdout).toContain('validators: v0, v1, v2, v3')

      const bad = await runCli([
        'genesis',
        'init',
        '--chain-id',
        'x',
        '--validator',
        'v0=nonsense',
        '--admin',
        keys[4]!,
        '--out',
        join(dir, 'g2.json'),
      ])
      expect(bad.code).toBe(1)
      expect(bad.stderr).toMatch(
        /--validator v0: "nonsense" is neither a did:key, 64 hex digits, nor a key file/,
      )
      expect(bad.stderr).not.toMatch(/at .*\.ts:\d+/)
    } finally {
      await cleanup()
    }
  })

  it('ledger verify passes on a good ledger and names the height of a bad one; export prints one block per line', async () => {
    const { dir, cleanup } = await tempDir('cli-ledger')
    try {
      const chain = makeDevChain({ seed: 'cli-ledger' })
      const f = new TxFactory(chain)
      const builder = new DevBlockBuilder(chain)
      const genesisPath = join(dir, 'genesis.json')
      await writeFile(genesisPath, genesisToJson(chain.genesis))
      const opened = await LevelLedgerStore.open(dataLayout(dir).ledger, chain.genesis)
      if (!opened.ok) throw new Error(opened.error.message)
      for (const txs of [f.bootstrap(), [], []]) {
        const { block, cert } = builder.next(txs)
        expect((await opened.value.append(block, cert)).ok).toBe(true)
      }
      await opened.value.close()

      const ok = await runCli(['--json', 'ledger', 'verify', '--data-dir', dir, '--genesis', genesisPath])
      expect(ok.code, ok.stderr).toBe(0)
      expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, height: 3 })
      const exported = await runCli(['ledger', 'export', '--data-dir', dir, '--genesis', genesisPath])
      const lines = exported.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
      expect(lines.map((l) => l.height)).toEqual([1, 2, 3])
      expect(lines[0].txs.map((t: { type: string }) => t.type)).toContain('role.grant')
      // Identities in JSON are did:key in every command, the export included (it was hex).
      const grant = lines[0].txs.find((t: { type: string }) => t.type === 'role.grant')
      expect(grant).toMatchObject({
        signer: didFromPublicKey(chain.admin.publicKey),
        subject: expect.stringMatching(/^did:key:z6Mk/),
      })

      const missing = await runCli([
        'ledger',
        'verify',
        '--data-dir',
        dir,
        '--genesis',
        join(dir, 'nope.json'),
      ])
      expect(missing.code).toBe(1)
      expect(missing.stderr.trim()).toBe(`fwmesh: no such file: ${join(dir, 'nope.json')}`)
    } finally {
      await cleanup()
    }
  })

  it('ends quietly with exit code 0 when its reader closes the pipe early', async () => {
    const child = spawn(FWMESH_BIN, ['--help'], { stdio: ['ignore', 'pipe', 'pipe'] })
    // The reader goes away before the command writes a byte (it takes ~0.3 s to start).
    child.stdout.destroy()
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    expect(stderr).toBe('')
    expect(code).toBe(0)
  })

  it('status --wait keeps asking a node that does not answer, then says it cannot reach it (exit 3)', async () => {
    const port = await freePort()
    const r = await runCli(['status', '--wait', '1', '--node', `http://127.0.0.1:${port}`])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/cannot reach the node at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/)
    const bad = await runCli(['status', '--wait', 'soon', '--node', `http://127.0.0.1:${port}`])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('--wait must be a number of seconds')
  })

  it('prints usage errors with exit code 2', async () => {
    const r = await runCli(['keygen'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/required option '-o, --out <file>'/)
  })
})
