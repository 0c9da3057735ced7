import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { YAMUX_FRAME_BYTES_MAX, YAMUX_STREAM_WINDOW_BYTES_MAX } from '../constants.js'
import { nodeNoiseCrypto } from './noise-crypto.js'

/**
 * The node's transport stack: TCP, then an encrypted channel, then a stream multiplexer. The
 * node's host and the benchmarks' raw-libp2p anchor both build it here, so the anchor always
 * measures the bytes over exactly what the node runs.
 */
export function transportStack() {
  return {
    transports: [tcp()],
    connectionEncrypters: [noise({ crypto: nodeNoiseCrypto })],
    streamMuxers: [
      yamux({
        maxMessageSize: YAMUX_FRAME_BYTES_MAX,
        streamOptions: { maxStreamWindowSize: YAMUX_STREAM_WINDOW_BYTES_MAX },
      }),
    ],
  }
}
