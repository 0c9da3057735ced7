/**
 * The one timer of a simulated node on virtual time, as a driver arms it after each batch
 * (`ReplicaHost.setTimer`): an earlier deadline schedules a new event, a later one waits for
 * the pending event (which fires early, harmlessly, and arms again), and an event that a newer
 * one superseded does nothing. So a node never has more than a few timer events queued.
 */

/** The clock and event queue a simulated node sees. */
export interface VirtualClock {
  now(): number
  at(time: number, run: () => void): void
}

export class VirtualTimer {
  private tickAt: number | null = null

  constructor(
    private readonly clock: VirtualClock,
    private readonly fire: () => void,
  ) {}

  /** Fires at `at` (not before now) unless an earlier firing is already due. */
  arm(at: number): void {
    const when = Math.max(at, this.clock.now())
    if (this.tickAt !== null && when >= this.tickAt) return
    this.tickAt = when
    this.clock.at(when, () => {
      if (this.tickAt !== when) return // superseded by an earlier timer, or cancelled
      this.tickAt = null
      this.fire()
    })
  }

  /** Forgets the pending firing (a crash, a restart). */
  cancel(): void {
    this.tickAt = null
  }
}
