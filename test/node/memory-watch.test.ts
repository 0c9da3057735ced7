import { describe, expect, it } from 'vitest'
// The binary's V8 settings, so dead ArrayBuffers are freed by the GC that finds them (constants.ts).
import '../../src/cli/heap-tuning.js'
import { collectGarbage, MemoryWatch } from '../../src/node/memory-watch.js'

const MiB = 1024 * 1024

describe('node: memory watch', () => {
  it('runs a full GC once garbage exceeds the slack, and the dead buffers are freed', () => {
    collectGarbage()
    const watch = new MemoryWatch({ slackBytes: 8 * MiB })
    // 32 MiB of chunk-sized buffers, written so their memory is really used, held until now.
    let held: Uint8Array[] | null = Array.from({ length: 128 }, (_, i) => new Uint8Array(256 * 1024).fill(i))
    expect(held.length).toBe(128)
    held = null
    expect(watch.check()).toBe(true)
    expect(watch.collected).toBe(1)
    expect(process.memoryUsage().arrayBuffers).toBeLessThan(16 * MiB)
  })

  it('collects only past the slack, counted from the lowest level seen since the last collection', () => {
    let level = 100 * MiB
    let collections = 0
    const watch = new MemoryWatch({
      slackBytes: 16 * MiB,
      measure: () => level,
      collect: () => {
        collections++
        level = 90 * MiB
      },
    })
    level = 116 * MiB
    expect(watch.check()).toBe(false)
    // V8 collected by itself: 80 MiB is the new floor, so 100 MiB is 20 MiB of garbage.
    level = 80 * MiB
    expect(watch.check()).toBe(false)
    level = 100 * MiB
    expect(watch.check()).toBe(true)
    expect(collections).toBe(1)
    // After the collection the floor is what it left (90 MiB).
    level = 105 * MiB
    expect(watch.check()).toBe(false)
    level = 107 * MiB
    expect(watch.check()).toBe(true)
    expect(watch.collected).toBe(2)
  })
})

describe('node: memory watch: settling when idle', () => {
  function fakeWatch() {
    const clock = { now: 0, level: 100 * MiB, collections: 0 }
    const watch = new MemoryWatch({
      slackBytes: 8 * MiB,
      idleAfterMs: 10_000,
      settleCollections: 2,
      now: () => clock.now,
      measure: () => clock.level,
      collect: () => {
        clock.collections++
        clock.level = 100 * MiB
      },
    })
    /** One tick a second until `until` (ms), as the daemon's interval runs it. */
    const ticksUntil = (until: number) => {
      while (clock.now < until) {
        clock.now += 1000
        watch.tick()
      }
    }
    return { clock, watch, ticksUntil }
  }

  it('runs two full GCs, a second apart, once the node has been quiet for idleAfterMs after starting', () => {
    const { clock, watch, ticksUntil } = fakeWatch()
    ticksUntil(9_000)
    expect(clock.collections, 'starting up is busy').toBe(0)
    expect(watch.idle).toBe(false)
    ticksUntil(10_000)
    expect(watch.idle).toBe(true)
    expect(clock.collections, 'the first settling GC').toBe(1)
    ticksUntil(11_000)
    expect(clock.collections, 'the second, a tick later').toBe(2)
    ticksUntil(120_000)
    expect(clock.collections, 'settled: nothing more while no garbage piles up').toBe(2)
    expect(watch.collected).toBe(2)
  })

  it('settles again after a download, not during it', () => {
    const { clock, watch, ticksUntil } = fakeWatch()
    ticksUntil(20_000)
    expect(clock.collections).toBe(2)
    // A download checks in every few MiB: busy, so no settling while it runs.
    for (let t = 21_000; t <= 40_000; t += 1000) {
      clock.now = t
      watch.check()
      watch.tick()
    }
    expect(clock.collections, 'no collections: garbage stayed within the slack').toBe(2)
    // It ends with a collection; ten quiet seconds later the node settles.
    watch.collectNow()
    expect(clock.collections).toBe(3)
    ticksUntil(49_000)
    expect(clock.collections).toBe(3)
    ticksUntil(51_000)
    expect(clock.collections, 'settled again after the download').toBe(5)
    ticksUntil(120_000)
    expect(clock.collections).toBe(5)
  })

  it('counts a collection for garbage as busy: a burst of work settles once it is over', () => {
    const { clock, ticksUntil } = fakeWatch()
    ticksUntil(15_000)
    expect(clock.collections).toBe(2)
    // A ledger sync makes 9 MiB of garbage: collected at once, and the node settles 10 s later.
    clock.level = 109 * MiB
    ticksUntil(16_000)
    expect(clock.collections).toBe(3)
    ticksUntil(25_000)
    expect(clock.collections).toBe(3)
    ticksUntil(27_000)
    expect(clock.collections).toBe(5)
  })
})
