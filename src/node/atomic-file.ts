import { open, rename, unlink } from 'node:fs/promises'

/**
 * Writes a file so that a crash leaves either the old or the new content, never a mix: a
 * temporary file beside it, fsync, then a rename over the old one.
 */
export async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`
  const handle = await open(temporary, 'w', 0o600)
  try {
    await handle.writeFile(bytes)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(temporary, path)
  } catch (cause) {
    await unlink(temporary).catch(() => {})
    throw cause
  }
}
