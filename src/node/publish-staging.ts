import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { type CID, cidToString, parseCid } from '../codec/cid.js'
import { PUBLISH_STAGED_IMAGES_MAX, PUBLISH_STAGED_TTL_MS, PUBLISH_UPLOADS_MAX } from '../constants.js'
import { chunkCount, decodeManifest, type Manifest } from '../transfer/manifest.js'
import { writeAtomically } from './atomic-file.js'
import { type Clock, systemClock } from './clock.js'
import { type ExpectedImage, type ImportError, importImage } from './image-import.js'
import type { Logger } from './log.js'

/**
 * Published images waiting for their release to commit: imported from the publish request's
 * body into `<data_dir>/images/staging/` (image-import.ts), neither served nor announced, and
 * handed to the transfer service to seed once the release commits. A release the ledger
 * refuses takes its image with it; one that never commits is forgotten after
 * PUBLISH_STAGED_TTL_MS. Staged images survive a restart.
 */

/** A verified image of a release that committed, for the transfer service to seed. */
export interface StagedImage {
  readonly cid: CID
  readonly manifest: Manifest
  readonly encoded: Uint8Array
  /** The image file, in the staging folder: the transfer service moves it beside the others. */
  readonly path: string
}

/** What the staging needs of the transfer service. */
export interface StagingHost {
  /** Whether this node holds the image already: whole, in part (a download), or not at all. */
  held(key: string): 'whole' | 'partial' | undefined
  /** Takes a staged image whose release committed and seeds it; true once it seeds. */
  adopt(image: StagedImage): Promise<boolean>
}

/** What staging a published image came to. */
export type StageResult =
  | {
      readonly ok: true
      readonly chunks: number
      /** This call imported the image (a refused release deletes it again). */
      readonly fresh: boolean
    }
  | {
      readonly ok: false
      readonly code: ImportError['code'] | 'busy' | 'conflict'
      readonly message: string
    }

interface Entry {
  readonly cid: CID
  readonly manifest: Manifest
  readonly encoded: Uint8Array
  /** When it was staged (ms since the epoch). */
  readonly at: number
}

export class PublishStaging {
  private readonly staged = new Map<string, Entry>()
  private readonly promoting = new Map<string, Promise<boolean>>()
  private uploads = 0

  constructor(
    private readonly dir: string,
    private readonly host: StagingHost,
    private readonly log: Logger,
    /** Wall-clock time: the TTL is also compared with staged files' modification times. */
    private readonly clock: Clock = systemClock,
  ) {}

  private paths(key: string) {
    return {
      image: join(this.dir, `${key}.img`),
      manifest: join(this.dir, `${key}.manifest`),
      part: join(this.dir, `${key}.img.part`),
    }
  }

  /**
   * Imports a published image from `source` (the body of the publish request), checked against
   * its release. An image this node holds whole already, or staged by an earlier publish, is
   * not read again.
   */
  async stage(expected: ExpectedImage, source: () => AsyncIterable<Uint8Array>): Promise<StageResult> {
    const key = cidToString(expected.manifest)
    const held = this.host.held(key)
    if (held === 'whole')
      return { ok: true, chunks: Math.ceil(expected.imageSize / expected.chunkSize), fresh: false }
    if (held === 'partial')
      return {
        ok: false,
        code: 'conflict',
        message:
          'this node is downloading that image; publish it from another node, or once it holds it whole',
      }
    const staged = this.staged.get(key)
    if (staged) return { ok: true, chunks: chunkCount(staged.manifest), fresh: false }
    await this.expire(this.clock.now())
    if (this.uploads >= PUBLISH_UPLOADS_MAX || this.staged.size >= PUBLISH_STAGED_IMAGES_MAX) {
      return {
        ok: false,
        code: 'busy',
        message: `this node is importing or holding ${this.uploads + this.staged.size} published images whose releases have not committed; try again when they have`,
      }
    }
    this.uploads++
    try {
      const paths = this.paths(key)
      await mkdir(this.dir, { recursive: true, mode: 0o700 })
      const imported = await importImage(source(), paths.part, expected)
      if (!imported.ok) return { ok: false, ...imported.error }
      const { cid, manifest, encoded } = imported.value
      await writeAtomically(paths.manifest, encoded)
      await rename(paths.part, paths.image)
      this.staged.set(key, { cid, manifest, encoded, at: this.clock.now() })
      this.log.info(
        { manifest: key, bytes: expected.imageSize },
        'imported a published image; it is seeded once its release commits',
      )
      return { ok: true, chunks: chunkCount(manifest), fresh: true }
    } catch (cause) {
      return { ok: false, code: 'io', message: `cannot stage the image: ${(cause as Error).message}` }
    } finally {
      this.uploads--
    }
  }

  /**
   * The release of a staged image committed: the transfer service takes the image and seeds
   * it. Resolves true once it seeds; false when nothing was staged under `key`.
   */
  promote(key: string): Promise<boolean> {
    const running = this.promoting.get(key)
    if (running) return running
    const staged = this.staged.get(key)
    if (!staged) return Promise.resolve(false)
    const promotion = (async () => {
      const seeded = await this.host.adopt({ ...staged, path: this.paths(key).image })
      this.staged.delete(key)
      await rm(this.paths(key).manifest, { force: true })
      return seeded
    })()
      .catch((cause: unknown) => {
        this.log.error({ manifest: key, err: (cause as Error).message }, 'could not seed a published image')
        return false
      })
      .finally(() => this.promoting.delete(key))
    this.promoting.set(key, promotion)
    return promotion
  }

  /** The release of a staged image was refused: the image is deleted, never served. */
  async discard(key: string): Promise<void> {
    if (this.promoting.has(key) || !this.staged.delete(key)) return
    const paths = this.paths(key)
    await rm(paths.image, { force: true })
    await rm(paths.manifest, { force: true })
  }

  /** The manifests of the images staged now. */
  keys(): string[] {
    return [...this.staged.keys()]
  }

  private async expire(now: number): Promise<void> {
    for (const [key, staged] of [...this.staged]) {
      if (now - staged.at < PUBLISH_STAGED_TTL_MS) continue
      this.log.warn({ manifest: key }, 'deleting a published image whose release never committed')
      await this.discard(key)
    }
  }

  /**
   * At start: images staged before a restart are seeded when their release committed
   * meanwhile, kept for their release's commit while younger than PUBLISH_STAGED_TTL_MS, and
   * deleted otherwise, with any upload a restart cut short.
   */
  async restore(committed: (manifest: string) => boolean): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[])
    for (const name of names) {
      if (name.endsWith('.part') || name.endsWith('.tmp')) {
        await rm(join(this.dir, name), { force: true })
        continue
      }
      if (!name.endsWith('.manifest')) continue
      const key = name.slice(0, -'.manifest'.length)
      const cid = parseCid(key)
      const paths = this.paths(key)
      const bytes = await readFile(paths.manifest).catch(() => undefined)
      const manifest = cid && bytes ? decodeManifest(bytes, { expectedCid: cid }) : undefined
      const at = await stat(paths.image).then(
        (s) => s.mtimeMs,
        () => undefined,
      )
      if (
        !cid ||
        !bytes ||
        !manifest?.ok ||
        at === undefined ||
        this.clock.now() - at >= PUBLISH_STAGED_TTL_MS
      ) {
        await rm(paths.image, { force: true })
        await rm(paths.manifest, { force: true })
        continue
      }
      this.staged.set(key, { cid, manifest: manifest.value, encoded: bytes, at })
      if (committed(key)) await this.promote(key)
    }
  }
}
