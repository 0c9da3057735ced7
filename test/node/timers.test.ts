import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { TIMER_DELAY_MS_MAX } from '../../src/constants.js'
import { clampTimerDelay, setLongTimeout } from '../../src/node/timers.js'

const DAY_MS = 86_400_000

describe('node: timers that wait as long as they are asked', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('a 30-day timer fires after 30 days, once, not after one step of 24.8 days', () => {
    const fn = vi.fn()
    setLongTimeout(fn, 30 * DAY_MS)
    vi.advanceTimersByTime(TIMER_DELAY_MS_MAX + 1)
    expect(fn, 'after one full step').not.toHaveBeenCalled()
    vi.advanceTimersByTime(30 * DAY_MS - TIMER_DELAY_MS_MAX - 2)
    expect(fn, '1 ms before it is due').not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)
    expect(fn).toHaveBeenCalledTimes(1)
    vi.advanceTimersByTime(60 * DAY_MS)
    expect(fn).toHaveBeenCalledTimes(1)
  })

  it('a short timer fires on time; a negative or NaN delay at once; an infinite one never', () => {
    const calls: string[] = []
    setLongTimeout(() => calls.push('50ms'), 50)
    setLongTimeout(() => calls.push('negative'), -5)
    setLongTimeout(() => calls.push('nan'), Number.NaN)
    setLongTimeout(() => calls.push('infinite'), Number.POSITIVE_INFINITY)
    vi.advanceTimersByTime(0)
    expect(calls.sort()).toEqual(['nan', 'negative'])
    vi.advanceTimersByTime(50)
    expect(calls).toContain('50ms')
    vi.advanceTimersByTime(365 * DAY_MS)
    expect(calls).not.toContain('infinite')
  })

  it('a cleared timer never fires, whichever step it is in', () => {
    const fn = vi.fn()
    const early = setLongTimeout(fn, 40 * DAY_MS)
    early.clear()
    const late = setLongTimeout(fn, 40 * DAY_MS)
    vi.advanceTimersByTime(30 * DAY_MS)
    late.clear()
    vi.advanceTimersByTime(30 * DAY_MS)
    expect(fn).not.toHaveBeenCalled()
  })

  it('clamps a delay to what one setTimeout can wait', () => {
    expect([-1, Number.NaN, 0, 5, TIMER_DELAY_MS_MAX, 600 * 3_600_000].map(clampTimerDelay)).toEqual([
      0,
      0,
      0,
      5,
      TIMER_DELAY_MS_MAX,
      TIMER_DELAY_MS_MAX,
    ])
  })
})
