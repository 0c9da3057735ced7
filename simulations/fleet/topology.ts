import { assert } from '../../src/codec/assert.js'
import type { Prng } from '../../src/prng.js'
import { GOSSIP_D, GOSSIP_D_HI, GOSSIP_D_LO } from './constants.js'

/**
 * Graphs of the fleet: an undirected graph in compressed (CSR) form, the random chunk overlay
 * (each device dials a few others; the origin is connected to a few devices), gossipsub's
 * mesh (degree D kept between D_lo and D_hi), and shortest-latency distances over a graph for
 * the gossip model.
 */
export class Graph {
  /** Neighbours of node i are `adj[start[i]] … adj[start[i + 1] - 1]`. */
  readonly start: Int32Array
  readonly adj: Int32Array
  /** For the edge at index k (i → j), the index of the edge j → i. */
  readonly reverse: Int32Array

  constructor(
    readonly nodes: number,
    edges: ReadonlyArray<readonly [number, number]>,
  ) {
    const degree = new Int32Array(nodes)
    for (const [a, b] of edges) {
      degree[a]!++
      degree[b]!++
    }
    this.start = new Int32Array(nodes + 1)
    for (let i = 0; i < nodes; i++) this.start[i + 1] = this.start[i]! + degree[i]!
    this.adj = new Int32Array(this.start[nodes]!)
    const fill = this.start.slice(0, nodes)
    for (const [a, b] of edges) {
      this.adj[fill[a]!++] = b
      this.adj[fill[b]!++] = a
    }
    // Sorted neighbour lists make the reverse lookup a binary search and the order canonical.
    for (let i = 0; i < nodes; i++) this.adj.subarray(this.start[i]!, this.start[i + 1]!).sort()
    this.reverse = new Int32Array(this.adj.length)
    for (let i = 0; i < nodes; i++) {
      for (let k = this.start[i]!; k < this.start[i + 1]!; k++)
        this.reverse[k] = this.edgeIndex(this.adj[k]!, i)
    }
  }

  degree(i: number): number {
    return this.start[i + 1]! - this.start[i]!
  }

  /** Index of the edge i → j, or -1. */
  edgeIndex(i: number, j: number): number {
    let lo = this.start[i]!
    let hi = this.start[i + 1]! - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const v = this.adj[mid]!
      if (v === j) return mid
      if (v < j) lo = mid + 1
      else hi = mid - 1
    }
    return -1
  }
}

/** Adds edge {a, b} once. */
function addEdge(set: Set<number>, edges: [number, number][], a: number, b: number, n: number): boolean {
  if (a === b) return false
  const key = a < b ? a * n + b : b * n + a
  if (set.has(key)) return false
  set.add(key)
  edges.push([a, b])
  return true
}

/**
 * The chunk overlay over `devices` devices (0 … devices-1) and the origin (node `devices`):
 * every device dials `dials` distinct random devices, the origin `originNeighbours` devices.
 * The devices' graph is made connected without the origin, so the swarm does not depend on it.
 */
export function overlayGraph(prng: Prng, devices: number, dials: number, originNeighbours: number): Graph {
  assert(devices >= 2, 'an overlay has at least two devices')
  const n = devices + 1
  const seen = new Set<number>()
  const edges: [number, number][] = []
  const want = Math.min(dials, devices - 1)
  for (let d = 0; d < devices; d++) {
    let made = 0
    for (let tries = 0; made < want && tries < 8 * want; tries++) {
      if (addEdge(seen, edges, d, prng.int(devices), n)) made++
    }
  }
  // Connect the device components: each one outside the first gets an edge into it.
  const comp = components(new Graph(n, edges), devices)
  for (let d = 0; d < devices; d++) {
    if (comp[d] !== comp[0]) {
      const root = comp[d]!
      let target = prng.int(devices)
      for (let tries = 0; comp[target] !== comp[0] && tries < 4 * devices; tries++) target = prng.int(devices)
      assert(comp[target] === comp[0], 'a device of the main component is found')
      addEdge(seen, edges, d, target, n)
      for (let k = d; k < devices; k++) if (comp[k] === root) comp[k] = comp[0]!
    }
  }
  const originDegree = Math.min(originNeighbours, devices)
  for (let made = 0, tries = 0; made < originDegree && tries < 16 * originDegree; tries++) {
    if (addEdge(seen, edges, devices, prng.int(devices), n)) made++
  }
  return new Graph(n, edges)
}

/** Component labels of nodes 0 … limit-1 over edges among them. */
function components(g: Graph, limit: number): Int32Array {
  const comp = new Int32Array(limit).fill(-1)
  const stack: number[] = []
  for (let s = 0; s < limit; s++) {
    if (comp[s] !== -1) continue
    comp[s] = s
    stack.push(s)
    while (stack.length > 0) {
      const v = stack.pop()!
      for (let k = g.start[v]!; k < g.start[v + 1]!; k++) {
        const w = g.adj[k]!
        if (w < limit && comp[w] === -1) {
          comp[w] = s
          stack.push(w)
        }
      }
    }
  }
  return comp
}

/**
 * gossipsub's mesh for one topic: each node grafts D random peers; then, as heartbeats do,
 * a node above D_hi prunes random links back towards D (never below D_lo at the other end),
 * and a node below D_lo grafts random peers up to D.
 */
export function gossipMesh(prng: Prng, nodes: number): Graph {
  const seen = new Set<number>()
  const edges: [number, number][] = []
  const d = Math.min(GOSSIP_D, nodes - 1)
  for (let i = 0; i < nodes; i++) {
    for (let made = 0, tries = 0; made < d && tries < 8 * d; tries++) {
      if (addEdge(seen, edges, i, prng.int(nodes), nodes)) made++
    }
  }
  let g = new Graph(nodes, edges)
  const degree = new Int32Array(nodes)
  for (let i = 0; i < nodes; i++) degree[i] = g.degree(i)
  const removed = new Set<number>()
  for (let i = 0; i < nodes; i++) {
    if (degree[i]! <= GOSSIP_D_HI) continue
    const peers = prng.shuffle(Array.from(g.adj.subarray(g.start[i]!, g.start[i + 1]!)))
    for (const j of peers) {
      if (degree[i]! <= GOSSIP_D) break
      const key = i < j ? i * nodes + j : j * nodes + i
      if (removed.has(key) || degree[j]! <= GOSSIP_D_LO) continue
      removed.add(key)
      degree[i]!--
      degree[j]!--
    }
  }
  const kept = edges.filter(([a, b]) => !removed.has(a < b ? a * nodes + b : b * nodes + a))
  const keptSet = new Set<number>()
  for (const [a, b] of kept) keptSet.add(a < b ? a * nodes + b : b * nodes + a)
  for (let i = 0; i < nodes; i++) {
    for (let tries = 0; degree[i]! < GOSSIP_D_LO && tries < 16 * GOSSIP_D; tries++) {
      const j = prng.int(nodes)
      if (degree[j]! >= GOSSIP_D_HI) continue
      if (addEdge(keptSet, kept, i, j, nodes)) {
        degree[i]!++
        degree[j]!++
      }
    }
  }
  g = new Graph(nodes, kept)
  return g
}

/**
 * Shortest-latency distances from `sources` over the nodes `usable` allows and the links
 * `linkUp` allows, with `weight(a, b)` per hop (Dijkstra on a binary heap). Unreachable nodes
 * get Infinity.
 */
export function distances(
  g: Graph,
  sources: readonly number[],
  usable: (i: number) => boolean,
  linkUp: (a: number, b: number) => boolean,
  weight: (a: number, b: number) => number,
  out: Float64Array,
): void {
  out.fill(Number.POSITIVE_INFINITY)
  const heapNode: number[] = []
  const heapDist: number[] = []
  const push = (v: number, dist: number) => {
    let i = heapNode.length
    heapNode.push(v)
    heapDist.push(dist)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (heapDist[p]! <= dist) break
      heapNode[i] = heapNode[p]!
      heapDist[i] = heapDist[p]!
      i = p
    }
    heapNode[i] = v
    heapDist[i] = dist
  }
  const pop = (): number => {
    const top = heapNode[0]!
    const lastNode = heapNode.pop()!
    const lastDist = heapDist.pop()!
    const n = heapNode.length
    if (n > 0) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const m = r < n && heapDist[r]! < heapDist[l]! ? r : l
        if (heapDist[m]! >= lastDist) break
        heapNode[i] = heapNode[m]!
        heapDist[i] = heapDist[m]!
        i = m
      }
      heapNode[i] = lastNode
      heapDist[i] = lastDist
    }
    return top
  }
  for (const s of sources) {
    if (!usable(s)) continue
    out[s] = 0
    push(s, 0)
  }
  while (heapNode.length > 0) {
    const d0 = heapDist[0]!
    const v = pop()
    if (d0 > out[v]!) continue
    for (let k = g.start[v]!; k < g.start[v + 1]!; k++) {
      const w = g.adj[k]!
      if (!usable(w) || !linkUp(v, w)) continue
      const nd = d0 + weight(v, w)
      if (nd < out[w]!) {
        out[w] = nd
        push(w, nd)
      }
    }
  }
}
