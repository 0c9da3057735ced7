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
