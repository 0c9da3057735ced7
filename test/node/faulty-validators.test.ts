import { describe, expect, it } from 'vitest'
import {
  PBFT_FAULT_LOG_INTERVAL_MS,
  PBFT_MUTE_AFTER_FAULTS,
  PBFT_MUTE_MAX_MS,
  PBFT_MUTE_MS,
} from '../../src/constants.js'
import { FaultyValidators } from '../../src/node/faulty-validators.js'

describe('node: validators provably faulty are not read for a while (virtual time)', () => {
  it('mutes a validator after a burst of provable faults, for longer each time it goes on', () => {
    const faulty = new FaultyValidators()
    let muted = 0
    for (let i = 0; i < PBFT_MUTE_AFTER_FAULTS; i++) if (faulty.fault(3, 'bad-signature', 0).muted) muted++
    expect(muted).toBe(1)
    expect(faulty.mutedForMs(3, 0)).toBe(PBFT_MUTE_MS)
    expect(faulty.mutedForMs(2, 0)).toBe(0)
    // It goes on after the mute: the next mute is twice as long.
    const back = PBFT_MUTE_MS
    for (let i = 0; i < PBFT_MUTE_AFTER_FAULTS; i++) faulty.fault(3, 'impersonation', back)
    expect(faulty.mutedForMs(3, back)).toBe(2 * PBFT_MUTE_MS)
    // ...never longer than the cap.
    let now = back
    for (let round = 0; round < 20; round++) {
      now += faulty.mutedForMs(3, now)
      for (let i = 0; i < PBFT_MUTE_AFTER_FAULTS; i++) faulty.fault(3, 'double-vote', now)
    }
    expect(faulty.mutedForMs(3, now)).toBe(PBFT_MUTE_MAX_MS)
  })

  it('never mutes for faults an honest validator can commit (stale or out-of-window messages)', () => {
    const faulty = new FaultyValidators()
    for (let i = 0; i < 10 * PBFT_MUTE_AFTER_FAULTS; i++) faulty.fault(1, 'stale-block-time', i)
    expect(faulty.mutedForMs(1, 10 * PBFT_MUTE_AFTER_FAULTS)).toBe(0)
  })

  it('logs the first fault of a kind per interval, then the count of those it did not log', () => {
    const faulty = new FaultyValidators()
    expect(faulty.fault(3, 'bad-signature', 0)).toMatchObject({ log: true, suppressed: 0 })
    for (let i = 1; i <= 999; i++) expect(faulty.fault(3, 'bad-signature', i).log).toBe(false)
    expect(faulty.fault(3, 'impersonation', 1_000).log).toBe(true)
    expect(faulty.fault(3, 'bad-signature', PBFT_FAULT_LOG_INTERVAL_MS)).toMatchObject({
      log: true,
      suppressed: 999,
    })
  })
})
