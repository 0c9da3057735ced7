/**
 * The local maintenance window: the hours (and optionally weekdays) in which a device may run
 * its install hook. Pure functions of a parsed window and a time in milliseconds since the
 * epoch; the time zone is a fixed UTC offset from the device's configuration.
 *
 * Semantics, each one tested at its edge:
 * - `start` is inclusive and `end` exclusive, at minute resolution: a window 02:00–04:30 is
 *   open from 02:00:00.000 up to 04:29:59.999.
 * - A window whose end is earlier than its start crosses midnight (22:00–03:00).
 * - `days` names the weekday on which a window *starts*: a Saturday window 23:00–01:00 is open
 *   on Sunday at 00:30, and closed on Monday at 00:30 unless Sunday is listed too.
 * - No `days` means every day; no window at all (null) means always open.
 * - `end` may be "24:00" (the end of the day); start = end is refused as ambiguous.
 */
import { AssertionError } from '../codec/assert.js'
import { err, ok, type Result } from '../codec/result.js'

/** Weekdays in JavaScript's order: 0 is Sunday, as `Date.getUTCDay()` counts. */
export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const
export type Weekday = (typeof WEEKDAYS)[number]

const FULL_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday']
const MINUTE_MS = 60_000
const DAY_MINUTES = 24 * 60
const DAY_MS = DAY_MINUTES * MINUTE_MS
/** UTC-12:00 .. UTC+14:00 are the offsets in use anywhere on Earth. */
const UTC_OFFSET_MIN_MINUTES = -12 * 60
const UTC_OFFSET_MAX_MINUTES = 14 * 60

/** A parsed maintenance window. Build one with `parseMaintenanceWindow`. */
export interface MaintenanceWindow {
  /** The weekdays (0 = Sunday) on which the window starts; null for every day. */
  readonly days: readonly number[] | null
  /** Minutes after local midnight, inclusive: 0..1439. */
  readonly startMinute: number
  /** Minutes after local midnight, exclusive: 1..1440. Below `startMinute` when it crosses midnight. */
  readonly endMinute: number
  /** The device's offset from UTC, in minutes (UTC+01:00 is 60). */
  readonly utcOffsetMinutes: number
}

/** A configuration fault, one sentence naming the key, for an operator who edits a file. */
export interface AgentConfigError {
  readonly code: 'config'
  readonly message: string
}

function fail(message: string): { ok: false; error: AgentConfigError } {
  return err({ code: 'config', message })
}

function parseTime(value: unknown, key: string, allowEndOfDay: boolean): Result<number, AgentConfigError> {
  const m = typeof value === 'string' ? /^(\d{1,2}):(\d{2})$/.exec(value.trim()) : null
  const hours = m ? Number(m[1]) : Number.NaN
  const minutes = m ? Number(m[2]) : Number.NaN
  if (m && allowEndOfDay && hours === 24 && minutes === 0) return ok(DAY_MINUTES)
  if (!m || hours > 23 || minutes > 59) {
    const shown = typeof value === 'string' ? `"${value.slice(0, 32)}"` : String(value)
    return fail(`${key}: ${shown} is not a time of day like "02:00" (24-hour clock)`)
  }
  return ok(hours * 60 + minutes)
}

function parseDay(value: unknown, key: string): Result<number, AgentConfigError> {
  const name = typeof value === 'string' ? value.trim().toLowerCase() : ''
  const short = WEEKDAYS.indexOf(name as Weekday)
  const index = short >= 0 ? short : FULL_NAMES.indexOf(name)
  if (index < 0) {
    const shown = typeof value === 'string' ? `"${value.slice(0, 32)}"` : String(value)
    return fail(`${key}: ${shown} is not a weekday; use ${WEEKDAYS.join(', ')}`)
  }
  return ok(index)
}

const KEYS = ['days', 'start', 'end', 'utcOffsetMinutes', 'utc_offset_minutes'] as const

/**
 * Parses a window from configuration (a TOML table or JSON object):
 * `{days?: ["sat", "sun"], start: "02:00", end: "04:30", utcOffsetMinutes?: 60}`. The offset
 * may also be spelled `utc_offset_minutes` (TOML style) and defaults to 0 (UTC). `key` names
 * the table in error messages.
 */
export function parseMaintenanceWindow(
  input: unknown,
  key = 'maintenance_window',
): Result<MaintenanceWindow, AgentConfigError> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return fail(`${key} must be a table like { start = "02:00", end = "04:30" }`)
  }
  const doc = input as Record<string, unknown>
  for (const name of Object.keys(doc)) {
    if (!(KEYS as readonly string[]).includes(name)) {
      return fail(
        `${key}: unknown key "${name.slice(0, 32)}"; known keys: days, start, end, utc_offset_minutes`,
      )
    }
  }
  if (doc.start === undefined) return fail(`${key}.start is required (like "02:00")`)
  if (doc.end === undefined) return fail(`${key}.end is required (like "04:30")`)
  const start = parseTime(doc.start, `${key}.start`, false)
  if (!start.ok) return start
  const end = parseTime(doc.end, `${key}.end`, true)
  if (!end.ok) return end
  if (start.value === end.value) {
    return fail(`${key}: start and end are equal; for the whole day use start "00:00" and end "24:00"`)
  }
  if (doc.utcOffsetMinutes !== undefined && doc.utc_offset_minutes !== undefined) {
    return fail(`${key}: give utc_offset_minutes once, not in two spellings`)
  }
  const offset = doc.utcOffsetMinutes ?? doc.utc_offset_minutes ?? 0
  if (
    typeof offset !== 'number' ||
    !Number.isInteger(offset) ||
    offset < UTC_OFFSET_MIN_MINUTES ||
    offset > UTC_OFFSET_MAX_MINUTES
  ) {
    return fail(
      `${key}.utc_offset_minutes must be a whole number of minutes between ${UTC_OFFSET_MIN_MINUTES} and ${UTC_OFFSET_MAX_MINUTES} (UTC+01:00 is 60)`,
    )
  }
  let days: number[] | null = null
  if (doc.days !== undefined) {
    if (!Array.isArray(doc.days)) return fail(`${key}.days must be a list of weekdays like ["sat", "sun"]`)
    if (doc.days.length === 0) return fail(`${key}.days is empty; leave it out to mean every day`)
    const set = new Set<number>()
    for (const [i, day] of doc.days.entries()) {
      const d = parseDay(day, `${key}.days[${i}]`)
      if (!d.ok) return d
      set.add(d.value)
    }
    days = [...set].sort((a, b) => a - b)
  }
  // "24:00" as an end equals midnight of the next day: keep 1440 so start < end stays true.
  return ok({ days, startMinute: start.value, endMinute: end.value, utcOffsetMinutes: offset })
}

function localParts(
  window: MaintenanceWindow,
  now: number,
): { dayStart: number; weekday: number; minute: number } {
  const local = now + window.utcOffsetMinutes * MINUTE_MS
  const dayIndex = Math.floor(local / DAY_MS)
  // 1970-01-01 was a Thursday (weekday 4).
  const weekday = (((dayIndex + 4) % 7) + 7) % 7
  const minute = Math.floor((local - dayIndex * DAY_MS) / MINUTE_MS)
  return { dayStart: dayIndex * DAY_MS, weekday, minute }
}

function startsOn(window: MaintenanceWindow, weekday: number): boolean {
  return window.days === null || window.days.includes(weekday)
}

/** True when the window is open at `now`; a null window is always open. */
export function isWindowOpen(window: MaintenanceWindow | null, now: number): boolean {
  if (window === null) return true
  const { weekday, minute } = localParts(window, now)
  if (window.startMinute < window.endMinute) {
    return startsOn(window, weekday) && minute >= window.startMinute && minute < window.endMinute
  }
  // Crossing midnight: the evening part belongs to today's window, the morning part to
  // yesterday's.
  if (minute >= window.startMinute) return startsOn(window, weekday)
  if (minute < window.endMinute) return startsOn(window, (weekday + 6) % 7)
  return false
}

/**
 * The earliest time at or after `now` when the window is open: `now` itself when it is open,
 * otherwise the next start. A null window answers `now`.
 */
export function nextWindowOpening(window: MaintenanceWindow | null, now: number): number {
  if (window === null || isWindowOpen(window, now)) return now
  const { dayStart, weekday } = localParts(window, now)
  // Closed now, so the next opening is a start: today's (if still ahead) or one of the next 7.
  for (let d = 0; d <= 7; d++) {
    if (!startsOn(window, (weekday + d) % 7)) continue
    const local = dayStart + d * DAY_MS + window.startMinute * MINUTE_MS
    const at = local - window.utcOffsetMinutes * MINUTE_MS
    if (at >= now) return at
  }
  // Unreachable: `days` is never empty, so one of eight consecutive days starts a window.
  throw new AssertionError('a parsed maintenance window has at least one start day')
}
