import { describe, expect, it } from 'vitest'
import { InboundBudget } from '../../src/node/inbound-budget.js'

describe('node: the budget of consensus messages per validator (virtual time)', () => {
  it('takes a burst at once, then holds a sender to its rate, each sender on its own', () => {
    const budget = new InboundBudget(100, 10)
    for (let i = 0; i < 10; i++) expect(budget.delayMs(1, 0)).toBe(0)
    // The eleventh message of the burst waits for one token: 10 ms at 100 per second.
    expect(budget.delayMs(1, 0)).toBe(10)
    // Another validator is not held back by the first one's flood.
    expect(budget.delayMs(2, 0)).toBe(0)
    // After the wait, one more message goes; a second of flooding gets about the rate through.
    expect(budget.delayMs(1, 10)).toBe(0)
    let taken = 0
    for (let now = 10; now <= 1_010; now++) if (budget.delayMs(1, now) === 0) taken++
    expect(taken).toBeGreaterThanOrEqual(99)
    expect(taken).toBeLessThanOrEqual(101)
  })

  it('refills to the burst, no more, after a quiet spell', () => {
    const budget = new InboundBudget(100, 10)
    for (let i = 0; i < 10; i++) budget.delayMs(1, 0)
    let atOnce = 0
    while (budget.delayMs(1, 60_000) === 0) atOnce++
    expect(atOnce).toBe(10)
  })
})
