import { keyPairFromSeed } from '../../src/crypto/ed25519.js'
import { createHost, type Host, type HostOptions } from '../../src/node/host.js'

/** A real libp2p host of the node's kind on 127.0.0.1, its key from a one-byte seed. */
export function loopbackHost(seed: number, extra: Partial<HostOptions> = {}): Promise<Host> {
  return createHost({
    keys: keyPairFromSeed(new Uint8Array(32).fill(seed)),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    mdns: false,
    ...extra,
  })
}
