/**
 * Signing domains. Every signature covers `fwmesh/<domain>/v1` and a zero byte before the
 * message, so a signature made for one purpose (a transaction) can never be accepted for
 * another (a commit vote), even when the message bytes happen to be equal. A retired domain
 * is never reused.
 */
export const SigningDomain = {
  /** A ledger transaction body. */
  tx: 'fwmesh/tx/v1',
  /** A validator's commit vote on (chain, height, view, block hash); certificates are made of these. */
  commit: 'fwmesh/commit/v1',
  /** Consensus protocol messages other than commit votes (pre-prepare, prepare, view change). */
  consensus: 'fwmesh/consensus/v1',
  /** A node's statement about its own state (status announcements). */
  announce: 'fwmesh/announce/v1',
  /** A device's progress on a release, gossiped to the mesh (src/agent/progress.ts). */
  progress: 'fwmesh/progress/v1',
} as const

export type SigningDomain = (typeof SigningDomain)[keyof typeof SigningDomain]
