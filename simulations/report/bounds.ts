/**
 * The theoretical lower bound on the time to distribute a file of F bytes from one seed to N
 * peers (Kumar & Ross, "Peer-to-peer file distribution: bounds"; DESIGN.md §8):
 *
 *   T_min = max(F / u_seed, F / d_min, N·F / (u_seed + Σ u_i))
 *
 * The seed must upload at least one copy; the slowest downloader must receive one; and all N
 * copies must cross the total upload capacity. A client–server distribution takes N·F/u_seed.
 */
export interface SwarmCapacities {
  /** The image size in bytes. */
  readonly fileBytes: number
  /** The origin's upload capacity, bytes per second. */
  readonly seedUploadBps: number
  /** Each downloading peer's upload and download capacity, bytes per second. */
  readonly peers: ReadonlyArray<{ readonly uploadBps: number; readonly downloadBps: number }>
}

export interface DistributionBounds {
  readonly lowerBoundSeconds: number
  readonly clientServerSeconds: number
  /** Which term of the max binds: the seed, the slowest downloader, or the total upload. */
  readonly binding: 'seed-upload' | 'slowest-download' | 'total-upload'
}

export function distributionBounds(c: SwarmCapacities): DistributionBounds {
  if (c.fileBytes <= 0 || c.seedUploadBps <= 0 || c.peers.length === 0) {
    throw new RangeError('distributionBounds needs a file, a seed with upload capacity and at least one peer')
  }
  let totalUpload = c.seedUploadBps
  let minDownload = Number.POSITIVE_INFINITY
  for (const p of c.peers) {
    totalUpload += p.uploadBps
    minDownload = Math.min(minDownload, p.downloadBps)
  }
  const terms = {
    'seed-upload': c.fileBytes / c.seedUploadBps,
    'slowest-download': c.fileBytes / minDownload,
    'total-upload': (c.peers.length * c.fileBytes) / totalUpload,
  } as const
  let binding: DistributionBounds['binding'] = 'seed-upload'
  for (const key of Object.keys(terms) as Array<keyof typeof terms>)
    if (terms[key] > terms[binding]) binding = key
  return {
    lowerBoundSeconds: terms[binding],
    clientServerSeconds: (c.peers.length * c.fileBytes) / c.seedUploadBps,
    binding,
  }
}
