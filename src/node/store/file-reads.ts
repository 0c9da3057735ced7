/**
 * Reading files in order in constant memory, for the stores and drivers that hash whole images
 * (the chunk store, the image chunker, the agent's installed-image check).
 */
import type { FileHandle } from 'node:fs/promises'
import { sha256Stream } from '../../codec/hash.js'

/** Reads until `length` bytes are in or the file ends; returns the count read. */
export async function readFully(
  fh: FileHandle,
  into: Uint8Array,
  length: number,
  position: number,
): Promise<number> {
  let done = 0
  while (done < length) {
    const { bytesRead } = await fh.read(into, done, length - done, position + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return done
}

/**
 * Reads the first `size` bytes of a file in order, `blockSize` at a time, into two alternating
 * buffers: the next read runs while `visit` handles the current block, in constant memory.
 * `visit` must not keep the block. Returns false when the file ends before `size` bytes.
 */
export async function readBlocks(
  fh: FileHandle,
  size: number,
  blockSize: number,
  visit: (block: Uint8Array, offset: number) => void,
): Promise<boolean> {
  let current = new Uint8Array(blockSize)
  let spare = new Uint8Array(blockSize)
  let position = 0
  let reading: Promise<number> | undefined =
    size > 0 ? readFully(fh, current, Math.min(blockSize, size), 0) : undefined
  while (reading) {
    const got: number = await reading
    if (got !== Math.min(blockSize, size - position)) return false
    const next: number = position + got
    reading = next < size ? readFully(fh, spare, Math.min(blockSize, size - next), next) : undefined
    visit(current.subarray(0, got), position)
    position = next
    const t = current
    current = spare
    spare = t
  }
  return true
}

/** SHA-256 of the first `size` bytes of a file, read `blockSize` at a time with one read ahead. */
export async function hashFile(fh: FileHandle, size: number, blockSize: number): Promise<Uint8Array> {
  const hash = sha256Stream()
  const complete = await readBlocks(fh, size, blockSize, (block) => hash.update(block))
  if (!complete) throw new Error(`the file is shorter than ${size} bytes`)
  return hash.digest()
}
