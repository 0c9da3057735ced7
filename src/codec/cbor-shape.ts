import { type DecodeError, decodeError } from './cbor-error.js'

/**
 * A walk over the item headers of a CBOR byte string, run before any decoder builds a value.
 * It bounds what the decoder may be asked to build: the nesting depth (the decoder recurses
 * once per level, and re-encoding for the canonical check recurses deeper still: a few
 * thousand levels in a few KiB overflowed the stack), the number of items (each becomes a
 * JavaScript value several times its one encoded byte), and every declared length against the
 * bytes that remain (a string or array claiming 2^64 bytes is refused from its header).
 *
 * It reads headers only: no value is built and no string copied. The walk is iterative, keeps
 * one counter per open container (at most `depthMax`) and visits each byte once. It refuses
 * what DAG-CBOR refuses anyway (indefinite lengths, reserved headers, trailing bytes) and
 * leaves every other check to the decoder.
 */
export interface CborShapeLimits {
  /** Containers (arrays, maps, tags) open at once; a scalar at the top is depth 0. */
  readonly depthMax: number
  /** Data items in all, map keys included. */
  readonly itemsMax: number
}

/** The first fault in the shape of `bytes`, or undefined when it is within the limits. */
export function cborShapeFault(bytes: Uint8Array, limits: CborShapeLimits): DecodeError | undefined {
  const n = bytes.byteLength
  // Items still to read in each open container; the bottom entry is the one top-level item.
  const open: number[] = [1]
  let pos = 0
  let items = 0
  while (open.length > 0) {
    const top = open.length - 1
    if (open[top] === 0) {
      open.pop()
      continue
    }
    open[top]!--
    if (pos >= n) return malformed(pos, 'the input ends inside an item')
    const initial = bytes[pos++]!
    const major = initial >>> 5
    const info = initial & 0x1f
    let arg: number
    if (info < 24) {
      arg = info
    } else if (info <= 27) {
      const size = 1 << (info - 24)
      if (size > n - pos) return malformed(pos, 'the input ends inside an item header')
      arg = 0
      for (let i = 0; i < size; i++) arg = arg * 256 + bytes[pos + i]!
      pos += size
    } else if (info === 31) {
      return malformed(pos - 1, 'indefinite lengths are not DAG-CBOR')
    } else {
      return malformed(pos - 1, `reserved header byte 0x${initial.toString(16)}`)
    }
    items++
    if (items > limits.itemsMax) {
      return decodeError('too-large', '', `more than ${limits.itemsMax} data items`)
    }
    switch (major) {
      case 2: // byte string
      case 3: // text string
        if (arg > n - pos) return malformed(pos, `a ${arg}-byte string with ${n - pos} bytes left`)
        pos += arg
        break
      case 4: // array
      case 5: {
        // map: a key and a value per entry
        const count = major === 4 ? arg : arg * 2
        // Every item takes at least one byte, so a longer count cannot be honest.
        if (count > n - pos) return malformed(pos, `${count} items declared with ${n - pos} bytes left`)
        if (open.length > limits.depthMax) return tooDeep(limits.depthMax)
        if (count > 0) open.push(count)
        break
      }
      case 6: // tag: one item follows
        if (open.length > limits.depthMax) return tooDeep(limits.depthMax)
        open.push(1)
        break
      default: // integers, simple values and floats: the header is the whole item
        break
    }
  }
  if (pos !== n) return malformed(pos, `${n - pos} bytes after the end of the value`)
  return undefined
}

function malformed(at: number, why: string): DecodeError {
  return decodeError('malformed', '', `not valid DAG-CBOR (${why}, at byte ${at})`)
}

function tooDeep(depthMax: number): DecodeError {
  return decodeError('too-deep', '', `nested deeper than ${depthMax} levels`)
}
