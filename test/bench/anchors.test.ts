import { describe, expect, it } from 'vitest'
import {
  LIBTORRENT_UNAVAILABLE,
  libtorrentAvailable,
  runLibtorrentSwarm,
  swarmLowerBoundSeconds,
} from '../../bench/anchors/libtorrent.js'
import { runRawLibp2p } from '../../bench/anchors/raw-libp2p.js'

const KiB = 1024
const MiB = 1024 * KiB

describe('swarmLowerBoundSeconds', () => {
  it('binds on the total upload in the link-bound scenario', () => {
    // 16 × 8 MiB over 512 KiB/s + 16 × 256 KiB/s = 4.5 MiB/s: 128 / 4.5 s, above 16 s and 8 s.
    const bound = swarmLowerBoundSeconds({
      peers: 16,
      imageBytes: 8 * MiB,
      seedUploadBps: 512 * KiB,
      peerUploadBps: 256 * KiB,
      peerDownloadBps: MiB,
    })
    expect(bound).toBeCloseTo(128 / 4.5, 9)
  })

  it('binds on the seed and the download alike in the CPU-bound scenario', () => {
    // 64 MiB at 8 MiB/s is 8 s both ways; all copies: 12 × 64 / (8 + 12 × 8) = 7.38 s.
    const bound = swarmLowerBoundSeconds({
      peers: 12,
      imageBytes: 64 * MiB,
      seedUploadBps: 8 * MiB,
      peerUploadBps: 8 * MiB,
      peerDownloadBps: 8 * MiB,
    })
    expect(bound).toBe(8)
  })

  it('binds on the slowest download when it is the slowest link', () => {
    const bound = swarmLowerBoundSeconds({
      peers: 2,
      imageBytes: 10 * MiB,
      seedUploadBps: 100 * MiB,
      peerUploadBps: 100 * MiB,
      peerDownloadBps: 2 * MiB,
    })
    expect(bound).toBe(5)
  })
})

describe('runLibtorrentSwarm', () => {
  const swarm = {
    peers: 2,
    imageBytes: MiB,
    seedUploadBps: MiB,
    peerUploadBps: MiB,
    peerDownloadBps: MiB,
  }

  it('reports the anchor unavailable when there is no such python', async () => {
    expect(await libtorrentAvailable('/nonexistent/python3')).toBe(false)
    expect(await runLibtorrentSwarm({ ...swarm, python: '/nonexistent/python3' })).toEqual({
      unavailable: LIBTORRENT_UNAVAILABLE,
    })
  })

  it('reports the anchor unavailable when the python cannot import libtorrent', async () => {
    // /bin/false stands for a python without the module: it runs, and fails.
    expect(await runLibtorrentSwarm({ ...swarm, python: '/bin/false' })).toEqual({
      unavailable: LIBTORRENT_UNAVAILABLE,
    })
  })
})

describe('runRawLibp2p', () => {
  it('moves every byte of every sender and measures the CPU of its processes', async () => {
    const result = await runRawLibp2p({ senders: 2, bytesPerSender: MiB })
    expect(result.bytes).toBe(2 * MiB)
    expect(result.seconds).toBeGreaterThan(0)
    expect(result.MBps).toBeCloseTo(result.bytes / 1e6 / result.seconds, 9)
    // Three fresh processes encrypting, multiplexing and decrypting 2 MiB with cold JIT code
    // take several 10 ms clock ticks between them.
    expect(result.cpuSecondsPerGiB).toBeGreaterThan(0)
  })
})
