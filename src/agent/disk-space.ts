/**
 * Whether a device has room for an image before it downloads it. The driver measures the free
 * bytes of the data directory's file system and the bytes of the image already on disk (a
 * resumed download holds part of it); this pure rule decides. An image is written in place,
 * chunk by chunk, into one file (node/store/file-chunk-store.ts), so what a download still needs is
 * the part of the image not on disk yet, plus a margin (DISK_MARGIN_*).
 */
import { DISK_MARGIN_BYTES_MIN, DISK_MARGIN_FRACTION } from '../constants.js'

/** What the driver measured, in bytes. */
export interface DiskSpace {
  /** Free bytes an unprivileged process may use on the data directory's file system. */
  readonly freeBytes: number
  /** Bytes of this image already on disk (allocated blocks of its file; 0 when there is none). */
  readonly heldBytes: number
}

/** The margin kept free beyond an image of this size. */
export function diskMargin(imageSize: number): number {
  return Math.max(DISK_MARGIN_BYTES_MIN, Math.ceil(imageSize * DISK_MARGIN_FRACTION))
}

/** Free bytes a download of this image needs: what is still to be written plus the margin; 0 when it is all there. */
export function diskSpaceNeeded(imageSize: number, heldBytes: number): number {
  const remaining = Math.max(0, imageSize - Math.max(0, heldBytes))
  return remaining === 0 ? 0 : remaining + diskMargin(imageSize)
}

/** Bytes as an operator reads them: MiB with one decimal (GiB from 10 GiB on). */
export function formatBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024)
  if (mib >= 10 * 1024) return `${(mib / 1024).toFixed(1)} GiB`
  return `${mib.toFixed(1)} MiB`
}

/**
 * The report detail when the download must not start (`insufficient space (need X, have Y)`),
 * or undefined when there is room.
 */
export function insufficientSpace(imageSize: number, space: DiskSpace): string | undefined {
  const need = diskSpaceNeeded(imageSize, space.heldBytes)
  const have = Math.max(0, space.freeBytes)
  if (have >= need) return undefined
  return `${INSUFFICIENT_SPACE} (need ${formatBytes(need)}, have ${formatBytes(have)})`
}

/** How every detail about a lack of disk space begins. */
export const INSUFFICIENT_SPACE = 'insufficient space'
