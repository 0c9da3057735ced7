import type { Row } from './common.js'

export async function raucCases(): Promise<Row[]> {
  return []
}
