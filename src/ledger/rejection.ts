/**
 * Why the ledger refused a transaction. Every code has a sentence a person can act on; the
 * node logs it, the CLI prints it, `fwmesh status --json` shows it.
 */
export type RejectionCode =
  | 'tx.malformed'
  | 'tx.wrong-chain'
  | 'tx.bad-signature'
  | 'tx.duplicate'
  | 'tx.too-large'
  | 'signer.unknown'
  | 'role.not-admin'
  | 'role.products-required'
  | 'role.products-unexpected'
  | 'role.not-held'
  | 'device.not-registrar'
  | 'device.already-registered'
  | 'device.not-registered'
  | 'publish.not-publisher'
  | 'publish.out-of-scope'
  | 'publish.bad-version'
  | 'publish.not-newer'
  | 'publish.bad-min-from'
  | 'publish.empty-hardware'
  | 'publish.duplicate-hardware'
  | 'publish.too-large'
  | 'publish.bad-chunking'
  | 'publish.bad-manifest'
  // The manifest id is not the one the release's image fields make (manifest-id.ts).
  | 'publish.manifest-mismatch'
  | 'publish.bad-rollout'
  | 'approve.not-approver'
  | 'approve.unknown-release'
  | 'approve.revoked'
  | 'approve.duplicate'
  | 'approve.self-approval'
  | 'revoke.not-authorized'
  | 'revoke.unknown-release'
  | 'revoke.already-revoked'
  | 'control.not-authorized'
  | 'control.unknown-release'
  // The release was revoked or aborted: nothing changes a final release.
  | 'control.final'
  | 'control.already-paused'
  | 'control.not-paused'
  // Only an admin clears a halt (the rollout crossed a wave's failure threshold).
  | 'control.halt-needs-admin'
  | 'report.unregistered-device'
  | 'report.wrong-signer'
  | 'report.unknown-release'
  | 'report.wrong-product'
  | 'report.hash-mismatch'
  | 'report.running-mismatch'

export interface Rejection {
  readonly code: RejectionCode
  readonly message: string
}

export function reject(code: RejectionCode, message: string): Rejection {
  return { code, message }
}
