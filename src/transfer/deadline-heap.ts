/**
 * A binary min-heap of deadlines with lazy deletion: entries that no longer matter (a request
 * that was answered) stay until they reach the top or until `compact` drops them. Ties are
 * broken by insertion order, so the order of timeouts is deterministic.
 */
export interface Deadline {
  readonly at: number
  readonly seq: number
}

export class DeadlineHeap<T extends Deadline> {
  private items: T[] = []

  get size(): number {
    return this.items.length
  }

  push(item: T): void {
    const items = this.items
    items.push(item)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(items[i]!, items[parent]!)) break
      swap(items, i, parent)
      i = parent
    }
  }

  peek(): T | undefined {
    return this.items[0]
  }

  pop(): T | undefined {
    const items = this.items
    const top = items[0]
    if (top === undefined) return undefined
    const last = items.pop()!
    if (items.length > 0) {
      items[0] = last
      this.siftDown(0)
    }
    return top
  }

  /** Keeps only the entries `keep` accepts, in O(n). */
  compact(keep: (item: T) => boolean): void {
    this.items = this.items.filter(keep)
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.siftDown(i)
  }

  private siftDown(start: number): void {
    const items = this.items
    const n = items.length
    let i = start
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < n && before(items[l]!, items[m]!)) m = l
      if (r < n && before(items[r]!, items[m]!)) m = r
      if (m === i) return
      swap(items, i, m)
      i = m
    }
  }
}

function before(a: Deadline, b: Deadline): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

function swap<T>(items: T[], i: number, j: number): void {
  const t = items[i]!
  items[i] = items[j]!
  items[j] = t
}
