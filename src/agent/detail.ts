/**
 * Free text for the ledger: an install report's `detail` holds at most
 * REPORT_DETAIL_LENGTH_MAX characters, and a line of hook output can be anything. Control
 * characters become spaces and runs of white space one space, so a report reads as one line;
 * when the text is too long its head (what happened) and its tail (the last error line, which
 * is what a hook prints last) are kept, joined by an ellipsis.
 */
import { REPORT_DETAIL_LENGTH_MAX } from '../constants.js'

// C0 controls, DEL and C1 controls, plus every kind of white space and line break.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to remove them
const SPACE_OR_CONTROL = /[\s\u0000-\u001f\u007f-\u009f]+/g

/** One line of printable text. */
export function oneLine(text: string): string {
  return text.replace(SPACE_OR_CONTROL, ' ').trim()
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff
}

/** The first `n` UTF-16 units, not ending inside a surrogate pair. */
function head(text: string, n: number): string {
  const cut = text.slice(0, n)
  return cut.length > 0 && isHighSurrogate(cut.charCodeAt(cut.length - 1)) ? cut.slice(0, -1) : cut
}

/** The last `n` UTF-16 units, not starting inside a surrogate pair. */
function tail(text: string, n: number): string {
  if (n <= 0) return ''
  const cut = text.slice(-n)
  return cut.length > 0 && isLowSurrogate(cut.charCodeAt(0)) ? cut.slice(1) : cut
}

/**
 * `prefix` and `body` as one line of at most `max` characters. The prefix (what happened,
 * like "hook exited with code 2") is kept whole when it fits; the body is cut from its start,
 * because hooks print the error that matters last.
 */
export function reportDetail(prefix: string, body = '', max: number = REPORT_DETAIL_LENGTH_MAX): string {
  const p = oneLine(prefix)
  const b = oneLine(body)
  const whole = p && b ? `${p}: ${b}` : p || b
  if (whole.length <= max) return whole
  if (!b || p.length + 3 >= max) return `${head(whole, max - 1)}…`
  return `${p}: …${tail(b, max - p.length - 3)}`
}
