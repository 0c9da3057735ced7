/** mkfifo(1): Node has no mkfifo of its own. A FIFO nobody writes blocks its reader for good. */
import { execFileSync } from 'node:child_process'

export function mkfifo(path: string): void {
  execFileSync('mkfifo', [path])
}
