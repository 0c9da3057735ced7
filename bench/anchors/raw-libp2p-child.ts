/**
 * One process of the raw-libp2p anchor (raw-libp2p.ts), spawned as
 * `node --import tsx raw-libp2p-child.ts receiver <totalBytes>` or
 * `... sender <receiverMultiaddr> <bytes> <writeBytes>`, and driven over the IPC channel:
 *
 * - the receiver listens on 127.0.0.1, sends `{ type: 'listening', addr }`, counts every byte
 *   of every inbound stream, and sends `{ type: 'done', bytes, seconds }` (first byte to last)
 *   once `totalBytes` arrived;
 * - a sender dials the receiver, opens one stream, sends `{ type: 'ready' }`, and on
 *   `{ type: 'go' }` writes its bytes in `writeBytes` writes, waiting for the stream to drain
 *   whenever libp2p reports back-pressure.
 *
 * The parent kills both when it has its figures.
 */
import '../../src/polyfills.js'
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { transportStack } from '../../src/node/transport.js'

/** The anchor's only protocol: bytes, nothing else. */
const PROTOCOL = '/fwmesh-bench/raw/1'
/**
 * libp2p refuses a sixth connection per second from one host by default; every sender comes
 * from 127.0.0.1 at the same moment.
 */
const INBOUND_CONNECTIONS_PER_HOST_PER_SEC = 1000

type ParentMessage = { type: 'go' }
export type ChildMessage =
  | { type: 'listening'; addr: string }
  | { type: 'ready' }
  | { type: 'done'; bytes: number; seconds: number }

function tell(msg: ChildMessage): void {
  process.send?.(msg)
}

async function node() {
  return createLibp2p({
    ...transportStack(),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    connectionManager: { inboundConnectionThreshold: INBOUND_CONNECTIONS_PER_HOST_PER_SEC },
  })
}

async function receiver(totalBytes: number): Promise<void> {
  const host = await node()
  let received = 0
  let first = 0
  const count = async (stream: Stream) => {
    for await (const chunk of stream) {
      if (received === 0) first = performance.now()
      received += chunk.byteLength
      if (received >= totalBytes)
        tell({ type: 'done', bytes: received, seconds: (performance.now() - first) / 1000 })
    }
  }
  await host.handle(PROTOCOL, (stream) => void count(stream).catch(() => {}))
  tell({ type: 'listening', addr: host.getMultiaddrs()[0]!.toString() })
}

async function sender(addr: string, bytes: number, writeBytes: number): Promise<void> {
  const host = await node()
  const stream = await host.dialProtocol(multiaddr(addr), PROTOCOL)
  // Always the same buffer: noise encrypts into new ones, and nothing here changes it.
  const block = new Uint8Array(writeBytes).fill(0xa5)
  process.on('message', async (msg: ParentMessage) => {
    if (msg.type !== 'go') return
    for (let sent = 0; sent < bytes; sent += writeBytes) {
      const size = Math.min(writeBytes, bytes - sent)
      const more = stream.send(size === writeBytes ? block : block.subarray(0, size))
      if (!more) await stream.onDrain()
    }
    await stream.close()
  })
  tell({ type: 'ready' })
}

// The parent is gone (it crashed or was killed): nobody will ever stop this process.
process.on('disconnect', () => process.exit(0))

const [role, ...rest] = process.argv.slice(2)
if (role === 'receiver') await receiver(Number(rest[0]))
else if (role === 'sender') await sender(rest[0]!, Number(rest[1]), Number(rest[2]))
else throw new Error(`unknown role ${role}: receiver <totalBytes> | sender <addr> <bytes> <writeBytes>`)
