import { describe, expect, it } from 'vitest'
import { type UploadJob, UploadQueue } from '../../src/transfer/upload.js'

function drainJobs(q: UploadQueue): UploadJob[] {
  const out: UploadJob[] = []
  for (let job = q.poll(); job; job = q.poll()) out.push(job)
  return out
}

describe('transfer: upload queue', () => {
  it('transfer: upload: never sends more chunks at once than it has slots', () => {
    const q = new UploadQueue({ slots: 2 })
    for (let c = 0; c < 5; c++) expect(q.handleRequest('a', c).ok).toBe(true)
    expect(drainJobs(q)).toEqual([
      { peer: 'a', chunk: 0 },
      { peer: 'a', chunk: 1 },
    ])
    expect(q.sending).toBe(2)
    q.handleSent('a', 0)
    expect(drainJobs(q)).toEqual([{ peer: 'a', chunk: 2 }])
  })

  it('transfer: upload: takes downloaders in turn, so one with a deep queue does not starve the others', () => {
    const q = new UploadQueue({ slots: 1 })
    for (let c = 0; c < 6; c++) q.handleRequest('greedy', c)
    q.handleRequest('modest', 100)
    q.handleRequest('late', 200)
    const order: string[] = []
    for (let i = 0; i < 8; i++) {
      const [job] = drainJobs(q)
      if (!job) break
      order.push(`${job.peer}:${job.chunk}`)
      q.handleSent(job.peer, job.chunk)
    }
    expect(order).toEqual([
      'greedy:0',
      'modest:100',
      'late:200',
      'greedy:1',
      'greedy:2',
      'greedy:3',
      'greedy:4',
      'greedy:5',
    ])
  })

  it('transfer: upload: serves the downloader furthest behind first, yet passes over the one whose turn it is at most once per downloader waiting', () => {
    const q = new UploadQueue({ slots: 1 })
    for (let c = 0; c < 4; c++) q.handleRequest('ahead', c, 200)
    for (let c = 0; c < 8; c++) q.handleRequest('behind', 100 + c, 10)
    const order: string[] = []
    for (let i = 0; i < 12; i++) {
      const [job] = drainJobs(q)
      if (!job) break
      order.push(`${job.peer}:${job.chunk}`)
      q.handleSent(job.peer, job.chunk)
    }
    // Two downloaders waiting: once it is at the front, 'ahead' is passed over at most twice.
    expect(order).toEqual([
      'behind:100',
      'behind:101',
      'ahead:0',
      'behind:102',
      'behind:103',
      'behind:104',
      'ahead:1',
      'behind:105',
      'behind:106',
      'behind:107',
      'ahead:2',
      'ahead:3',
    ])
  })

  it('transfer: upload: refuses a downloader past its queue bound, everyone past the total bound, and duplicates', () => {
    const q = new UploadQueue({ slots: 1, queuePerPeerMax: 2, queueTotalMax: 3 })
    expect(q.handleRequest('a', 1).ok).toBe(true)
    const dup = q.handleRequest('a', 1)
    expect(dup.ok ? undefined : dup.error.code).toBe('duplicate')
    expect(q.handleRequest('a', 2).ok).toBe(true)
    const full = q.handleRequest('a', 3)
    expect(full.ok ? undefined : full.error.code).toBe('peer-queue-full')
    expect(q.handleRequest('b', 1).ok).toBe(true)
    const busy = q.handleRequest('c', 1)
    expect(busy.ok ? undefined : busy.error.code).toBe('busy')
  })

  it('transfer: upload: a cancelled request leaves the queue; one being sent is reported as such', () => {
    const q = new UploadQueue({ slots: 1 })
    q.handleRequest('a', 1)
    q.handleRequest('a', 2)
    expect(drainJobs(q)).toEqual([{ peer: 'a', chunk: 1 }])
    expect(q.handleCancel('a', 1)).toBe('sending')
    expect(q.handleCancel('a', 2)).toBe('waiting')
    expect(q.handleCancel('a', 3)).toBe('unknown')
    q.handleSent('a', 1)
    expect(drainJobs(q)).toEqual([])
    expect(q.waiting).toBe(0)
  })

  it('transfer: upload: a downloader that leaves loses its queue, and its slots free as sends end', () => {
    const q = new UploadQueue({ slots: 1 })
    q.handleRequest('a', 1)
    q.handleRequest('a', 2)
    q.handleRequest('b', 9)
    expect(drainJobs(q)).toEqual([{ peer: 'a', chunk: 1 }])
    q.handlePeerLeft('a')
    q.handleSent('a', 1)
    expect(drainJobs(q)).toEqual([{ peer: 'b', chunk: 9 }])
    expect(q.waiting).toBe(0)
  })
})
