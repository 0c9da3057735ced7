/**
 * Keys and signatures. ed25519 everywhere: node:crypto verifies on the hot path, @noble/ed25519
 * derives keys and is the portable reference. Every signature is bound to a signing domain.
 * Identities are did:key strings. `key-file.ts` is the key file format; the node reads and
 * writes key files in src/node/store/key-files.ts, so nothing here touches the disk.
 */
export * from './did.js'
export * from './domains.js'
export * from './ed25519.js'
export * from './key-file.js'
