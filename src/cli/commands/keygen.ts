import type { Command } from 'commander'
import { didFromPublicKey } from '../../crypto/did.js'
import { generateKeyPair } from '../../crypto/ed25519.js'
import { peerIdOf } from '../../node/peer-id.js'
import { writeKeyFile } from '../../node/store/key-files.js'
import { CliError, type Output } from '../output.js'

export function registerKeygen(program: Command, output: () => Output): void {
  program
    .command('keygen')
    .description('create an ed25519 key file (mode 0600) and print its did:key and libp2p peer id')
    .requiredOption('-o, --out <file>', 'where to write the key file (never overwritten)')
    .action(async (options: { out: string }) => {
      const keys = generateKeyPair()
      const written = await writeKeyFile(options.out, keys)
      if (!written.ok) throw new CliError(written.error.message)
      const did = didFromPublicKey(keys.publicKey)
      const peerId = peerIdOf(keys.publicKey)
      output().result(
        { did, peerId, file: options.out },
        () => `${did}\npeer id ${peerId}\nwritten to ${options.out}`,
      )
    })
}
