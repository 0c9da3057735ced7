import { toPlainJson } from '../codec/json.js'
import { didFromPublicKey } from '../crypto/did.js'
import type { TxBody } from './tx.js'

/**
 * A transaction body as JSON for people and scripts (the API's audit rows, `fwmesh ledger
 * export`): bytes in hex, CIDs as strings, and the keys it names (its signer, a subject, a
 * device) as did:key, the one form JSON gives identities.
 */
export function txBodyJson(body: TxBody): Record<string, unknown> {
  const out = toPlainJson(body) as Record<string, unknown>
  out.signer = didFromPublicKey(body.signer)
  if ('subject' in body) out.subject = didFromPublicKey(body.subject)
  if ('device' in body) out.device = didFromPublicKey(body.device)
  return out
}
