/**
 * Freeze: every validator stops, so no block (no signed time) comes any more. Every device's
 * `fwmesh status` must exit 7 once its newest block is older than max_chain_age; a device that
 * comes up during the freeze and learns an approved release from its stale neighbours must
 * start no download of it; once the validators are back, it must install it.
 * (test/cli/status-freeze.test.ts is the in-process version.)
 */
import { waitForApi } from '../fleet.js'
import {
  api,
  approve,
  approverKey,
  cli,
  downloadOf,
  headHeight,
  installedVersion,
  MAX_CHAIN_AGE_S,
  type Mesh,
  makeImage,
  type Outcome,
  publish,
  sleep,
  startDevice,
  startValidator,
  stopNode,
  until,
} from './mesh.js'

const VERSION = '1.6.0'

export async function freeze(mesh: Mesh): Promise<Outcome> {
  const origin = mesh.validators[0]!
  const [d0, d1, late] = mesh.devices as [
    (typeof mesh.devices)[0],
    (typeof mesh.devices)[0],
    (typeof mesh.devices)[0],
  ]
  // device-2 is away while 1.6.0 is approved: it will learn of it during the freeze.
  await stopNode(mesh, late)
  const image = await makeImage('freeze.img', 'freeze')
  const published = await publish(origin, image.path, VERSION)
  if (published.code !== 0) throw new Error(`publish ${VERSION}: ${published.stdout}`)
  const release = String(published.json?.release)
  const manifest = String(published.json?.manifest)
  for (const i of [0, 1]) await approve(origin, release, approverKey(i))
  await until('device-0 and device-1 install 1.6.0', 120_000, async () =>
    (await Promise.all([d0, d1].map(installedVersion))).every((v) => v === VERSION),
  )
  mesh.latest = VERSION

  const live = await Promise.all([d0, d1].map((d) => cli(['--json', 'status', '--node', api(d)])))
  for (const v of mesh.validators) await stopNode(mesh, v)
  const stoppedAt = performance.now()
  // Deadline by the chain's own age: status is asked until it says stale, or long past it.
  const stale = await Promise.all(
    [d0, d1].map(async (d) => {
      for (;;) {
        const r = await cli(['--json', 'status', '--node', api(d)])
        if (r.code === 7 || performance.now() - stoppedAt > MAX_CHAIN_AGE_S * 10_000) return r
        await sleep(500)
      }
    }),
  )
  const staleAfter = Math.round((performance.now() - stoppedAt) / 100) / 10

  // device-2 comes up, syncs the stale chain (and the approval) from device-0 and device-1.
  await startDevice(mesh, late)
  await waitForApi(late)
  const head = await headHeight(d0)
  await until("device-2 has its neighbours' head", 60_000, async () => (await headHeight(late)) >= head)
  // Give its agent a few ticks with the release in view; nothing must start.
  await until('device-2 sees 1.6.0', 30_000, async () => {
    const s = await late.api.status()
    const releases = ((s.device as { releases?: Array<{ version: string }> }).releases ?? []).map(
      (r) => r.version,
    )
    return releases.includes(VERSION)
  })
  await sleep(3_000)
  const lateStatus = await cli(['--json', 'status', '--node', api(late)])
  const lateDownload = await downloadOf(late, manifest)
  const lateVersion = await installedVersion(late)

  for (const v of mesh.validators) await startValidator(mesh, v)
  await Promise.all(mesh.validators.map(waitForApi))
  const restartedAt = performance.now()
  let installedAfter: number | null = null
  await until('device-2 installs 1.6.0 after the restart', 120_000, async () => {
    if ((await installedVersion(late)) !== VERSION) return false
    installedAfter = Math.round((performance.now() - restartedAt) / 100) / 10
    return true
  }).catch(() => {})

  const codes = stale.map((r) => r.code)
  const ages = stale.map((r) => r.json?.chainAgeSeconds)
  const held = lateDownload === undefined && lateVersion !== VERSION && lateStatus.code === 7
  return {
    attack: 'freeze',
    tried: `stop all 4 validators (max_chain_age ${MAX_CHAIN_AGE_S} s); start device-2 meanwhile, which learns the approved ${VERSION} from its stale neighbours; restart the validators`,
    outcome: `status exit ${live.map((r) => r.code).join('/')} before, ${codes.join('/')} after ${staleAfter} s (chain age ${ages.join('/')} s); device-2 during the freeze: status exit ${lateStatus.code}, ${lateDownload ? 'DOWNLOADING' : 'no download'}, runs ${lateVersion}; after the restart it installed ${VERSION} ${installedAfter === null ? 'NEVER' : `in ${installedAfter} s`}`,
    rejected:
      live.every((r) => r.code === 0) && codes.every((c) => c === 7) && held && installedAfter !== null,
    badInstall: lateDownload !== undefined || lateVersion === VERSION,
  }
}
