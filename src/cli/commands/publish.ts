import { stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import type { RolloutView } from '../../agent/rollout-view.js'
import { toHex } from '../../codec/bytes.js'
import { CHUNK_BYTES_DEFAULT, CHUNK_BYTES_MAX, CHUNK_BYTES_MIN } from '../../constants.js'
import { shortDid } from '../../crypto/did.js'
import { manifestIdOf } from '../../ledger/manifest-id.js'
import { parseSemVer } from '../../ledger/semver.js'
import { systemClock } from '../../node/clock.js'
import { chunkImageFile } from '../../node/store/image-chunker.js'
import { chunkingFault } from '../../transfer/manifest.js'
import { CliError, type Output } from '../output.js'
import { ProgressBar } from '../progress.js'
import { clientOf, notCommitted, signFor, waitMsOf } from '../submit.js'
import { rolloutOf, rolloutVerdict, watchRollout } from './rollout.js'

/** --chunk-size: a whole number of bytes a manifest (and so every device) accepts. */
export function parseChunkSize(text: string | undefined): number {
  if (text === undefined) return CHUNK_BYTES_DEFAULT
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(n) || n < CHUNK_BYTES_MIN || n > CHUNK_BYTES_MAX)
    throw new CliError(
      `--chunk-size "${text}" must be a whole number of bytes from ${CHUNK_BYTES_MIN} to ${CHUNK_BYTES_MAX} (default ${CHUNK_BYTES_DEFAULT})`,
    )
  return n
}

/** Refuses, before any work, an image no manifest can describe at this chunk size. */
export function checkImageChunking(name: string, imageSize: number, chunkSize: number): void {
  if (imageSize < 0) throw new CliError(`${name} is not a file`)
  const fault = chunkingFault(imageSize, chunkSize)
  if (fault?.code === 'too-many-chunks')
    throw new CliError(`--chunk-size ${chunkSize} cuts ${name} into ${fault.message}`)
  if (fault?.code === 'empty-image') throw new CliError(`${name} is empty`)
  if (fault) throw new CliError(`${name}: ${fault.message}`)
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

/** "10@0", "50@2h", "100@86400000": cumulative percent @ delay after the start. */
export function parseWave(text: string): { percent: number; afterMs: number; maxFailurePercent?: number } {
  const m = /^(\d{1,3})@(\d+)(ms|s|m|h|d)?(?:\/(\d{1,3}))?$/.exec(text)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m?.[3] ?? 'ms') as 'ms']
  const percent = m ? Number(m[1]) : Number.NaN
  const maxFail = m?.[4] === undefined ? undefined : Number(m[4])
  if (!m || percent < 1 || percent > 100 || (maxFail !== undefined && maxFail > 100))
    throw new CliError(
      `--wave "${text}" must be PERCENT@DELAY[/MAXFAIL], like 10@0, 100@2h or 10@0/5 (halt later waves when 5 % of the devices in open waves failed)`,
    )
  return {
    percent,
    afterMs: Number(m[2]) * unit,
    ...(maxFail !== undefined ? { maxFailurePercent: maxFail } : {}),
  }
}

export function registerPublish(release: Command, output: () => Output): void {
  release
    .command('publish')
    .description('chunk an image, seed it from the local node, and publish the release on the ledger')
    .argument('<image>', 'the firmware image file')
    .requiredOption('--product <name>', 'the product')
    .requiredOption(
      '--version <semver>',
      'the new version, newer than every earlier one of the product and channel',
    )
    .requiredOption('--hardware <models>', 'comma-separated hardware models it is built for')
    .option('--channel <name>', 'the release channel', 'stable')
    .option('--min-from <semver>', 'devices must run at least this version to install it')
    .option(
      '--wave <percent@delay>',
      'a rollout wave (repeat; cumulative percent, delay after start, optional failure threshold in percent: 10@0/5); default 100@0',
      collect,
      [],
    )
    .option('--tag <name...>', 'only devices carrying one of these tags (device register --tag)')
    .option('--start <time>', 'when the first wave opens: ISO time or ms since the epoch (default now)')
    .option(
      '--chunk-size <bytes>',
      `chunk size in bytes, ${CHUNK_BYTES_MIN} to ${CHUNK_BYTES_MAX} (default ${CHUNK_BYTES_DEFAULT})`,
    )
    .option('--key <file>', 'the publisher key file')
    .option('--node <url>', "the node's API (default $FWMESH_NODE or http://127.0.0.1:7070)")
    .option('--wait <seconds>', 'wait this long for the commit', '60')
    .action(
      async (
        imageArg: string,
        o: {
          product: string
          version: string
          hardware: string
          channel: string
          minFrom?: string
          tag?: string[]
          wave: string[]
          start?: string
          chunkSize?: string
          key?: string
          node?: string
          wait: string
        },
      ) => {
        const out = output()
        if (!parseSemVer(o.version))
          throw new CliError(`--version "${o.version}" is not a semantic version (like 1.4.2)`)
        if (o.minFrom !== undefined && !parseSemVer(o.minFrom))
          throw new CliError(`--min-from "${o.minFrom}" is not a semantic version`)
        const hardware = o.hardware
          .split(',')
          .map((h) => h.trim())
          .filter((h) => h.length > 0)
        if (hardware.length === 0) throw new CliError('--hardware needs at least one model')
        const waves = o.wave.length > 0 ? o.wave.map(parseWave) : [{ percent: 100, afterMs: 0 }]
        const start =
          o.start === undefined
            ? systemClock.now()
            : /^\d+$/.test(o.start)
              ? Number(o.start)
              : Date.parse(o.start)
        if (!Number.isSafeInteger(start) || start < 0)
          throw new CliError(`--start "${o.start}" is not a time`)
        const chunkSize = parseChunkSize(o.chunkSize)
        const image = resolve(imageArg)
        const imageSize = await stat(image).then(
          (st) => (st.isFile() ? st.size : -1),
          (cause: Error) => {
            throw new CliError(`cannot read ${imageArg}: ${cause.message}`)
          },
        )
        checkImageChunking(imageArg, imageSize, chunkSize)
        const waitMs = waitMsOf(o)
        const client = clientOf(o)
        const fields = {
          type: 'release.publish',
          product: o.product,
          channel: o.channel,
          version: o.version,
          hardware,
          imageSize,
          chunkSize,
          rollout: { start, waves },
          ...(o.minFrom ? { minFrom: o.minFrom } : {}),
          ...(o.tag && o.tag.length > 0 ? { tags: o.tag } : {}),
        }
        const chain = String((await client.status()).chain)
        // The ledger's checks (role, version order, hardware, size) before minutes of chunking:
        // the node checks a draft signed over placeholder hashes (and the manifest id they
        // make), and submits nothing.
        const placeholder = {
          imageSize,
          chunkSize,
          imageSha256: new Uint8Array(32),
          chunkHashesSha256: new Uint8Array(32),
        }
        const draft = await signFor(
          o,
          'release publish',
          { ...fields, ...placeholder, manifest: manifestIdOf(placeholder) },
          client,
          chain,
        )
        await client.checkPublish(draft)
        const bar = new ProgressBar('chunking', !out.json)
        const chunked = await chunkImageFile(image, {
          chunkSize,
          onProgress: (read, total) => bar.update(read, total, `${(read / 1048576).toFixed(1)} MiB`),
        })
        if (!chunked.ok) {
          const e = chunked.error
          throw new CliError(
            e.code === 'io' ? `cannot read ${imageArg}: ${e.message}` : `${imageArg}: ${e.message}`,
          )
        }
        const { manifest, cid } = chunked.value
        if (manifest.imageSize !== imageSize)
          throw new CliError(`${imageArg} changed size while it was chunked; publish it again`)
        const tx = await signFor(
          o,
          'release publish',
          {
            ...fields,
            manifest: cid,
            imageSha256: manifest.imageSha256,
            chunkHashesSha256: manifest.chunkHashesSha256,
          },
          client,
          chain,
        )
        // The node checks the release again, then takes the image as the request's body, checks
        // it against the manifest, submits the release and seeds the image once it commits.
        out.info(`release publish: submitting ${tx.idString} with its image`)
        const upload = new ProgressBar('uploading', !out.json)
        const r = await client.publish(tx, image, imageSize, waitMs, (sent) =>
          upload.update(sent, imageSize, `${(sent / 1048576).toFixed(1)} MiB`),
        )
        if (waitMs > 0 && r.status !== 'committed') throw notCommitted('release publish', waitMs, r.id)
        out.info(
          `${r.status === 'committed' ? 'seeding' : 'will seed, once the release commits,'} ${manifest.imageSize} bytes in ${r.chunks} chunks of ${manifest.chunkSize} bytes from the node`,
        )
        out.result(
          {
            release: r.id,
            height: r.height,
            manifest: cid.toString(),
            imageSha256: toHex(manifest.imageSha256),
            imageSize: manifest.imageSize,
          },
          () =>
            `published ${o.product} ${o.version}: release ${r.id} (height ${r.height ?? 'pending'}); it needs approvals before devices install it`,
        )
      },
    )

  release
    .command('rollout')
    .description(
      'show how far a release has rolled out among the devices eligible for it; with --wait, until each confirmed, rolled back or failed (exit 9 when one did not confirm)',
    )
    .argument('<release>', 'the release id')
    .option('--wait <seconds>', 'keep watching this long (0: just print)', '0')
    .option('--node <url>', "the node's API (default $FWMESH_NODE or http://127.0.0.1:7070)")
    .action(async (id: string, o: { wait: string; node?: string }) => {
      const out = output()
      const client = clientOf(o)
      const waitMs = Number(o.wait) * 1000
      if (!Number.isFinite(waitMs) || waitMs < 0) throw new CliError('--wait must be a number of seconds')
      const bar = new ProgressBar('rollout', !out.json)
      const summarize = (v: RolloutView) => ({
        release: id,
        version: v.version,
        // Eligible devices only: one for other hardware, or already past this version, never installs it.
        devices: v.eligible,
        confirmed: v.counts.confirmed,
        rolledBack: v.counts['rolled-back'],
        failed: v.counts.failed,
        ineligible: v.ineligible,
        installable: v.installable,
        counts: v.counts,
      })
      const show = (v: RolloutView) =>
        bar.update(
          v.counts.confirmed,
          v.eligible,
          `${v.counts.confirmed}/${v.eligible} confirmed${notConfirmedText(v)}`,
        )
      const { view, timedOut } =
        waitMs > 0
          ? await watchRollout(client, id, waitMs, show)
          : { view: await rolloutOf(client, id), timedOut: false }
      out.result(summarize(view), () => {
        const failed = view.devices.filter((d) => d.state === 'failed' || d.state === 'rolled-back')
        return [
          `${view.product} ${view.version}: ${view.counts.confirmed} of ${view.eligible} eligible devices confirmed${notConfirmedText(view)}${view.ineligible ? ` (${view.ineligible} not eligible)` : ''}`,
          ...failed.map((d) => `${d.state}: ${shortDid(d.did)}: ${d.detail ?? ''}`),
        ].join('\n')
      })
      const verdict = rolloutVerdict(view, timedOut && waitMs > 0, o.wait)
      if (verdict) throw verdict
    })
}

/** `, 2 rolled back, 1 failed`: the devices that ended without confirming, or nothing. */
function notConfirmedText(v: RolloutView): string {
  const rolledBack = v.counts['rolled-back']
  return `${rolledBack ? `, ${rolledBack} rolled back` : ''}${v.counts.failed ? `, ${v.counts.failed} failed` : ''}`
}
