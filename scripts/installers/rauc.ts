/**
 * RAUC sandbox: a system.conf with two `type=raw` slots backed by files (A and B), a custom
 * bootloader backend (a script keeping primary and states in files, so a "reboot" is a
 * restart of the service with --override-boot-slot), the RAUC service on a private D-Bus
 * system bus, and signed `plain` bundles (a `verity` bundle needs device-mapper, which a
 * container rarely has). Each case gets fresh slots.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../../test/helpers/tmp.js'
import {
  confirm,
  daemon,
  describeOutcome,
  type Expected,
  have,
  install,
  type Row,
  row,
  sh,
  signingCert,
  waitFor,
} from './common.js'

const NAME = 'rauc'
const VERSION = '2.0.0'
const COMPATIBLE = 'fwmesh-gw'
/** The timeout case's install_timeout: the backend hangs for good once the slot is written,
 * so this only has to cover the install up to there (a 64 KiB slot image). */
const ACTIVATED_TIMEOUT_MS = 10_000

const BACKEND = `#!/bin/sh
# RAUC custom bootloader backend for the sandbox: state in files next to this script. With a
# "hang" file, set-primary records the new primary and then never returns (a stuck fw_setenv).
d=$(dirname "$0")
case "$1" in
  get-primary) cat "$d/primary" 2>/dev/null || echo A ;;
  set-primary) echo "$2" > "$d/primary"; while [ -e "$d/hang" ]; do sleep 0.1; done ;;
  get-state) cat "$d/state.$2" 2>/dev/null || echo good ;;
  set-state) echo "$3" > "$d/state.$2" ;;
  get-current) cat "$d/primary" 2>/dev/null || echo A ;;
  *) exit 1 ;;
esac
`

export async function raucCases(): Promise<Row[]> {
  for (const p of ['rauc', 'dbus-daemon', 'mksquashfs', 'openssl']) {
    if (!have(p))
      return [
        { installer: NAME, case: '-', expected: 'skipped', outcome: `${p} is not installed`, ok: 'skipped' },
      ]
  }
  const { dir, cleanup } = await tempDir('rauc')
  const stops: (() => void)[] = []
  try {
    const { key, cert } = signingCert(dir)
    const bus = join(dir, 'bus')
    writeFileSync(
      join(dir, 'dbus.conf'),
      `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=${bus}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/></policy></busconfig>\n`,
    )
    const dbus = daemon('dbus-daemon', ['--nofork', `--config-file=${join(dir, 'dbus.conf')}`])
    stops.push(dbus.stop)
    await waitFor('the private D-Bus', () => existsSync(bus) || dbus.exited())
    const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${bus}` }
    const hookEnv = { DBUS_SYSTEM_BUS_ADDRESS: env.DBUS_SYSTEM_BUS_ADDRESS }

    const payload = randomBytes(64 * 1024)
    const bundle = (name: string, compatible: string) => {
      const src = join(dir, `${name}.d`)
      mkdirSync(src)
      writeFileSync(join(src, 'rootfs.img'), payload)
      writeFileSync(
        join(src, 'manifest.raucm'),
        `[update]\ncompatible=${compatible}\nversion=${VERSION}\n\n[bundle]\nformat=plain\n\n[image.rootfs]\nfilename=rootfs.img\n`,
      )
      const out = join(dir, `${name}.raucb`)
      sh('rauc', ['bundle', '--cert', cert, '--key', key, src, out])
      return out
    }
    const good = bundle('good', COMPATIBLE)
    const wrong = bundle('wrong', 'other-board')
    const bytes = readFileSync(good)
    for (let i = 0; i < 16; i++) bytes[1000 + i] = (bytes[1000 + i] ?? 0) ^ 0xff
    const corrupted = join(dir, 'corrupted.raucb')
    writeFileSync(corrupted, bytes)

    /** A fresh system (slots, bootloader state, RAUC's data) booted from slot A. */
    let n = 0
    let service: { stop(): void; exited(): boolean } | undefined
    const system = async () => {
      const sys = join(dir, `system${n++}`)
      mkdirSync(join(sys, 'mnt'), { recursive: true })
      writeFileSync(join(sys, 'slotA.img'), Buffer.alloc(128 * 1024))
      writeFileSync(join(sys, 'slotB.img'), Buffer.alloc(128 * 1024))
      writeFileSync(join(sys, 'backend.sh'), BACKEND, { mode: 0o755 })
      writeFileSync(
        join(sys, 'system.conf'),
        `[system]\ncompatible=${COMPATIBLE}\nbootloader=custom\nmountprefix=${join(sys, 'mnt')}\ndata-directory=${join(sys, 'data')}\n\n` +
          `[handlers]\nbootloader-custom-backend=${join(sys, 'backend.sh')}\n\n[keyring]\npath=${cert}\n\n` +
          `[slot.rootfs.0]\ndevice=${join(sys, 'slotA.img')}\ntype=raw\nbootname=A\n\n` +
          `[slot.rootfs.1]\ndevice=${join(sys, 'slotB.img')}\ntype=raw\nbootname=B\n`,
      )
      await boot(sys, 'A')
      return sys
    }
    /** "Boots" slot `slot`: restarts the RAUC service as if the bootloader had started it. */
    const boot = async (sys: string, slot: string) => {
      service?.stop()
      const s = daemon(
        'rauc',
        [`--conf=${join(sys, 'system.conf')}`, 'service', `--override-boot-slot=${slot}`],
        env,
      )
      service = s
      stops.push(s.stop)
      const up = () => s.exited() || spawnOk('rauc', ['status'], env)
      await waitFor('the RAUC service', up)
      if (s.exited()) throw new Error('the RAUC service exited at start')
    }

    const rows: Row[] = []
    const job = (imagePath: string) => ({
      imagePath,
      version: VERSION,
      release: 'test',
      product: 'gw',
      hardware: 'rev-b',
    })
    const run = async (
      name: string,
      expected: Expected,
      image: string,
      reason?: RegExp,
      timeoutMs?: number,
    ) =>
      rows.push(
        row(
          NAME,
          name,
          expected,
          describeOutcome(await install('rauc.sh', job(image), hookEnv, timeoutMs)),
          reason,
        ),
      )

    let sys = await system()
    await run('good image', 'installed', good)
    const written = readFileSync(join(sys, 'slotB.img')).subarray(0, payload.length).equals(payload)
    const primary = readFileSync(join(sys, 'primary'), 'utf8').trim()
    rows.push(
      row(
        NAME,
        'good image: slot B written and primary',
        'installed',
        written && primary === 'B' ? 'installed' : `slot B written ${written}, primary ${primary}`,
      ),
    )
    await boot(sys, 'B')
    rows.push(
      row(NAME, 'boot into B: confirm (mark-good)', 'confirmed', await confirm('rauc.sh', VERSION, hookEnv)),
    )
    rows.push(
      row(
        NAME,
        'boot into B: marked good',
        'confirmed',
        readFileSync(join(sys, 'state.B'), 'utf8').trim() === 'good' ? 'confirmed' : 'state.B is not good',
      ),
    )

    sys = await system()
    await run('wrong compatible (hardware)', 'failed', wrong, /Compatible mismatch/i)
    await run('corrupted image', 'failed', corrupted, /signature/i)

    sys = await system()
    await run('rollback: install', 'installed', good)
    await boot(sys, 'A') // the bootloader fell back to A
    rows.push(
      row(NAME, 'rollback: A still runs: confirm', 'rolled back', await confirm('rauc.sh', VERSION, hookEnv)),
    )

    sys = await system()
    writeFileSync(join(sys, 'hang'), '')
    await run(
      'timeout while activating the slot',
      'unknown',
      good,
      /activated|still installing/,
      ACTIVATED_TIMEOUT_MS,
    )
    rmSync(join(sys, 'hang'))
    await boot(sys, 'B')
    rows.push(
      row(
        NAME,
        'timeout: next boot into B resolves it: confirm',
        'confirmed',
        await confirm('rauc.sh', VERSION, hookEnv),
      ),
    )
    return rows
  } finally {
    for (const stop of stops.reverse()) stop()
    // A service stopped mid-install leaves its bundle mounted under the sandbox.
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n').reverse()) {
      const target = line.split(' ')[1]
      if (target?.startsWith(dir)) spawnOk('umount', ['-l', target], process.env)
    }
    await cleanup()
  }
}

function spawnOk(file: string, args: string[], env: NodeJS.ProcessEnv): boolean {
  try {
    sh(file, args, { env })
    return true
  } catch {
    return false
  }
}
