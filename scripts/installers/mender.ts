/** Mender: placeholder until its sandbox exists. */
import type { Row } from './common.js'

export async function menderCases(): Promise<Row[]> {
  return []
}
