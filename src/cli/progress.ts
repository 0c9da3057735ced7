import { systemClock } from '../node/clock.js'

/**
 * A progress bar on stderr. On a terminal it redraws one line in place; otherwise (CI logs,
 * pipes) it prints a line at most every few seconds. Never on stdout, never with --json.
 */
export class ProgressBar {
  private lastLine = 0
  private readonly tty = process.stderr.isTTY === true

  constructor(
    private readonly label: string,
    private readonly enabled: boolean,
  ) {}

  update(done: number, total: number, suffix = ''): void {
    if (!this.enabled) return
    const now = systemClock.now()
    const finished = total > 0 && done >= total
    if (!this.tty && !finished && now - this.lastLine < 3_000) return
    this.lastLine = now
    const fraction = total > 0 ? Math.min(1, done / total) : 0
    const width = 30
    const filled = Math.round(fraction * width)
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%`
    const line = `${this.label} ${bar} ${suffix}`.trimEnd()
    process.stderr.write(this.tty ? `\r\x1b[2K${line}${finished ? '\n' : ''}` : `${line}\n`)
  }
}
