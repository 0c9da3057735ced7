import {
  PBFT_FAULT_LOG_INTERVAL_MS,
  PBFT_MUTE_AFTER_FAULTS,
  PBFT_MUTE_MAX_MS,
  PBFT_MUTE_MS,
  PBFT_STRIKE_WINDOW_MS,
} from '../constants.js'

/**
 * Faults only a faulty validator commits, over a channel authenticated as that validator: a
 * signature that does not verify, a vote in another's name, two votes for one slot. Honest
 * validators with slow clocks or old views send stale messages, never these.
 */
const PROVABLE_FAULTS: ReadonlySet<string> = new Set(['bad-signature', 'impersonation', 'double-vote'])

/**
 * What a validator does about another that is provably faulty: after PBFT_MUTE_AFTER_FAULTS
 * provable faults within PBFT_STRIKE_WINDOW_MS it stops reading that validator for
 * PBFT_MUTE_MS (doubling while it goes on, up to PBFT_MUTE_MAX_MS). A byzantine validator's
 * vote flood then costs a few dozen signature checks per mute instead of thousands a second;
 * with f of them muted, the 2f+1 others still make quorums. And what gets logged: the first
 * fault of a kind per sender and interval, then a count, not one line per message of a flood.
 * Pure: time is passed in.
 */
export class FaultyValidators {
  private readonly strikes = new Map<
    number,
    { count: number; since: number; muteMs: number; until: number }
  >()
  private readonly logged = new Map<string, { at: number; suppressed: number }>()

  /** Records a fault of `from`; says whether to log it and how many like it went unlogged. */
  fault(from: number, code: string, now: number): { log: boolean; suppressed: number; muted: boolean } {
    let muted = false
    if (PROVABLE_FAULTS.has(code)) {
      let s = this.strikes.get(from)
      if (!s || now - s.since > PBFT_STRIKE_WINDOW_MS) {
        s = { count: 0, since: now, muteMs: s?.muteMs ?? PBFT_MUTE_MS, until: s?.until ?? 0 }
        this.strikes.set(from, s)
      }
      s.count++
      if (s.count >= PBFT_MUTE_AFTER_FAULTS && now >= s.until) {
        s.until = now + s.muteMs
        s.muteMs = Math.min(PBFT_MUTE_MAX_MS, s.muteMs * 2)
        s.count = 0
        s.since = now
        muted = true
      }
    }
    const key = `${from}/${code}`
    const l = this.logged.get(key)
    if (!l || now - l.at >= PBFT_FAULT_LOG_INTERVAL_MS) {
      this.logged.set(key, { at: now, suppressed: 0 })
      return { log: true, suppressed: l?.suppressed ?? 0, muted }
    }
    l.suppressed++
    return { log: false, suppressed: 0, muted }
  }

  /** Milliseconds until `from` may be read again; 0 when it is not muted. */
  mutedForMs(from: number, now: number): number {
    const until = this.strikes.get(from)?.until ?? 0
    return until > now ? until - now : 0
  }
}
