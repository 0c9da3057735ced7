/** Small byte helpers shared by every module. */

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** Parses lower- or upper-case hex; returns undefined for odd length or a non-hex digit. */
export function fromHex(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  return Buffer.compare(a, b) === 0
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}

const utf8Encoder = new TextEncoder()
export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text)
}
