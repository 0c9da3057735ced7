import { type Logger, pino } from 'pino'
import type { LogLevel } from './config.js'

export type { Logger }

/**
 * Structured JSON logs (pino) on stderr, so stdout stays free for the CLI's own output. Each
 * subsystem logs through a child with its name: `log.child({ sub: 'sync' })`.
 */
export function makeLogger(level: LogLevel, base: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { ...base }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2))
}
