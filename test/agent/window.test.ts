import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isWindowOpen, nextWindowOpening, parseMaintenanceWindow } from '../../src/agent/window.js'
import { DAY, MINUTE, T0 } from './world.js'

function win(input: Record<string, unknown>) {
  const r = parseMaintenanceWindow(input)
  if (!r.ok) throw new Error(r.error.message)
  return r.value
}

// T0 is Thursday 2026-01-01 00:00 UTC; day offsets from it: 0 Thu, 1 Fri, 2 Sat, 3 Sun, 4 Mon.
const THU = 0
const FRI = 1
const SAT = 2
const SUN = 3
const MON = 4
const TUE = 5

/** A UTC time: a day offset from T0 and "HH:MM", plus milliseconds. */
function at(day: number, hhmm: string, extraMs = 0): number {
  const [h, m] = hhmm.split(':').map(Number)
  return T0 + day * DAY + (h! * 60 + m!) * MINUTE + extraMs
}

describe('agent: window: parsing', () => {
  it('agent: window: parsing accepts weekday names, short hours, 24:00 and the TOML spelling of the offset', () => {
    expect(
      win({ days: ['Saturday', 'sun', 'sat'], start: '2:00', end: '24:00', utc_offset_minutes: 60 }),
    ).toEqual({ days: [0, 6], startMinute: 120, endMinute: 1440, utcOffsetMinutes: 60 })
    expect(win({ start: '22:00', end: '03:00', utcOffsetMinutes: -300 })).toEqual({
      days: null,
      startMinute: 1320,
      endMinute: 180,
      utcOffsetMinutes: -300,
    })
  })

  const faults: Array<[string, unknown, string]> = [
    [
      'not a table',
      '02:00-04:30',
      'maintenance_window must be a table like { start = "02:00", end = "04:30" }',
    ],
    ['no start', { end: '04:30' }, 'maintenance_window.start is required (like "02:00")'],
    ['no end', { start: '02:00' }, 'maintenance_window.end is required (like "04:30")'],
    [
      'an hour past 23',
      { start: '25:00', end: '04:30' },
      'maintenance_window.start: "25:00" is not a time of day like "02:00" (24-hour clock)',
    ],
    [
      'a 12-hour time',
      { start: '02:00', end: '4:30pm' },
      'maintenance_window.end: "4:30pm" is not a time of day like "02:00" (24-hour clock)',
    ],
    [
      '24:00 as a start',
      { start: '24:00', end: '04:30' },
      'maintenance_window.start: "24:00" is not a time of day like "02:00" (24-hour clock)',
    ],
    [
      'a number instead of a time',
      { start: 200, end: '04:30' },
      'maintenance_window.start: 200 is not a time of day like "02:00" (24-hour clock)',
    ],
    [
      'an empty window',
      { start: '02:00', end: '02:00' },
      'maintenance_window: start and end are equal; for the whole day use start "00:00" and end "24:00"',
    ],
    [
      'days not a list',
      { days: 'sat', start: '02:00', end: '04:30' },
      'maintenance_window.days must be a list of weekdays like ["sat", "sun"]',
    ],
    [
      'no days',
      { days: [], start: '02:00', end: '04:30' },
      'maintenance_window.days is empty; leave it out to mean every day',
    ],
    [
      'an unknown weekday',
      { days: ['sat', 'funday'], start: '02:00', end: '04:30' },
      'maintenance_window.days[1]: "funday" is not a weekday; use sun, mon, tue, wed, thu, fri, sat',
    ],
    [
      'an offset beyond UTC+14',
      { start: '02:00', end: '04:30', utcOffsetMinutes: 15 * 60 },
      'maintenance_window.utc_offset_minutes must be a whole number of minutes between -720 and 840 (UTC+01:00 is 60)',
    ],
    [
      'the offset given twice',
      { start: '02:00', end: '04:30', utcOffsetMinutes: 60, utc_offset_minutes: 60 },
      'maintenance_window: give utc_offset_minutes once, not in two spellings',
    ],
    [
      'an unknown key',
      { start: '02:00', end: '04:30', timezone: 'Europe/Berlin' },
      'maintenance_window: unknown key "timezone"; known keys: days, start, end, utc_offset_minutes',
    ],
  ]
  for (const [name, input, message] of faults) {
    it(`agent: window: parsing refuses ${name} with a sentence naming the key`, () => {
      const r = parseMaintenanceWindow(input)
      expect(r.ok, name).toBe(false)
      if (!r.ok) expect(r.error, name).toEqual({ code: 'config', message })
    })
  }
})

describe('agent: window: open or closed', () => {
  const daily = win({ start: '02:00', end: '04:30' })
  const overnight = win({ start: '22:00', end: '03:00' })
  const saturdayNight = win({ days: ['sat'], start: '23:00', end: '01:00' })
  const mondays = win({ days: ['mon'], start: '02:00', end: '04:00' })
  const berlin = win({ start: '02:00', end: '04:30', utcOffsetMinutes: 60 })
  const newYorkThursdayEvening = win({ days: ['thu'], start: '20:00', end: '23:00', utcOffsetMinutes: -300 })
  const weekend = win({ days: ['sat', 'sun'], start: '00:00', end: '24:00' })

  const cases: Array<[string, ReturnType<typeof win> | null, number, boolean]> = [
    ['no window is always open', null, at(THU, '13:37'), true],
    ['one millisecond before the start is closed', daily, at(THU, '02:00', -1), false],
    ['the start is inclusive', daily, at(THU, '02:00'), true],
    ['the last millisecond before the end is open', daily, at(THU, '04:30', -1), true],
    ['the end is exclusive', daily, at(THU, '04:30'), false],
    ['overnight: before its start is closed', overnight, at(THU, '21:59'), false],
    ['overnight: its start is open', overnight, at(THU, '22:00'), true],
    ['overnight: midnight is open', overnight, at(FRI, '00:00'), true],
    ['overnight: just before its end is open', overnight, at(FRI, '03:00', -1), true],
    ['overnight: its end is closed', overnight, at(FRI, '03:00'), false],
    ['overnight: noon is closed', overnight, at(FRI, '12:00'), false],
    ['a Saturday window before its start is closed', saturdayNight, at(SAT, '22:59'), false],
    ['a Saturday window at its start is open', saturdayNight, at(SAT, '23:00'), true],
    ['a Saturday window stays open past midnight into Sunday', saturdayNight, at(SUN, '00:30'), true],
    ['a Saturday window closes at its end on Sunday', saturdayNight, at(SUN, '01:00'), false],
    ['a Saturday window does not open on Sunday evening', saturdayNight, at(SUN, '23:30'), false],
    ['a Saturday window does not open on Friday evening', saturdayNight, at(FRI, '23:30'), false],
    [
      "early Saturday belongs to Friday's window, which is not listed",
      saturdayNight,
      at(SAT, '00:30'),
      false,
    ],
    ['a Monday window is open on Monday', mondays, at(MON, '03:00'), true],
    ['a Monday window is closed on Tuesday', mondays, at(TUE, '03:00'), false],
    ['a Monday window is closed on Sunday', mondays, at(SUN, '03:00'), false],
    ['UTC+1: 01:00 UTC is 02:00 local, open', berlin, at(THU, '01:00'), true],
    ['UTC+1: 00:59 UTC is 01:59 local, closed', berlin, at(THU, '00:59'), false],
    ['UTC+1: 03:30 UTC is 04:30 local, closed', berlin, at(THU, '03:30'), false],
    ['UTC-5: Friday 02:00 UTC is Thursday 21:00 local, open', newYorkThursdayEvening, at(FRI, '02:00'), true],
    [
      'UTC-5: Thursday 21:00 UTC is Thursday 16:00 local, closed',
      newYorkThursdayEvening,
      at(THU, '21:00'),
      false,
    ],
    ['the whole weekend: Saturday 00:00 is open', weekend, at(SAT, '00:00'), true],
    ['the whole weekend: the last millisecond of Sunday is open', weekend, at(MON, '00:00', -1), true],
    ['the whole weekend: Monday 00:00 is closed', weekend, at(MON, '00:00'), false],
    ['the whole weekend: the last millisecond of Friday is closed', weekend, at(SAT, '00:00', -1), false],
  ]
  for (const [name, window, time, open] of cases) {
    it(`agent: window: ${name}`, () => {
      expect(isWindowOpen(window, time), name).toBe(open)
    })
  }
})

describe('agent: window: next opening', () => {
  const daily = win({ start: '02:00', end: '04:30' })
  const saturdayNight = win({ days: ['sat'], start: '23:00', end: '01:00' })
  const berlin = win({ start: '02:00', end: '04:30', utcOffsetMinutes: 60 })
  const cases: Array<[string, ReturnType<typeof win> | null, number, number]> = [
    ['no window opens now', null, at(THU, '13:37'), at(THU, '13:37')],
    ['an open window opens now', daily, at(THU, '03:00', 5), at(THU, '03:00', 5)],
    ['before the start it opens at the start', daily, at(THU, '01:00'), at(THU, '02:00')],
    ['at the end it opens the next day', daily, at(THU, '04:30'), at(FRI, '02:00')],
    [
      'a Saturday window seen on Thursday opens on Saturday',
      saturdayNight,
      at(THU, '12:00'),
      at(SAT, '23:00'),
    ],
    [
      'a Saturday window just closed opens a week later',
      saturdayNight,
      at(SUN, '01:00'),
      at(SAT + 7, '23:00'),
    ],
    [
      'UTC+1: after the local end it opens at 01:00 UTC the next day',
      berlin,
      at(THU, '04:00'),
      at(FRI, '01:00'),
    ],
  ]
  for (const [name, window, time, expected] of cases) {
    it(`agent: window: next opening: ${name}`, () => {
      expect(nextWindowOpening(window, time), name).toBe(expected)
    })
  }

  it('agent: window: next opening is open and every minute before it is closed (fast-check)', () => {
    const hhmm = fc
      .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
      .map(([h, m]) => `${h}:${String(m).padStart(2, '0')}`)
    const input = fc.record({
      start: hhmm,
      end: hhmm,
      utcOffsetMinutes: fc.integer({ min: -720, max: 840 }),
      days: fc.option(
        fc.uniqueArray(fc.constantFrom('sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'), { minLength: 1 }),
        {
          nil: undefined,
        },
      ),
    })
    fc.assert(
      fc.property(input, fc.integer({ min: 0, max: 14 * DAY }), (raw, offset) => {
        const parsed = parseMaintenanceWindow(raw.days ? raw : { ...raw, days: undefined })
        if (!parsed.ok) return // equal start and end
        const now = T0 + offset
        const opens = nextWindowOpening(parsed.value, now)
        expect(opens).toBeGreaterThanOrEqual(now)
        expect(opens - now).toBeLessThanOrEqual(8 * DAY)
        expect(isWindowOpen(parsed.value, opens)).toBe(true)
        for (let t = Math.ceil((now + 1) / MINUTE) * MINUTE; t < opens; t += MINUTE) {
          expect(isWindowOpen(parsed.value, t), `at ${new Date(t).toISOString()}`).toBe(false)
        }
      }),
      { seed: 7, numRuns: 60 },
    )
  })
})
