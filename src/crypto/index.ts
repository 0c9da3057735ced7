/**
 * Keys and signatures. ed25519 everywhere: node:crypto verifies on the hot path, @noble/ed25519
 * derives keys and is the portable reference. Every signature is bound to a signing domain.
 * Identities are did:key strings. Key files live in `key-store.ts`, the only file here that
 * touches the disk.
 */
export * from './did.js'
export * from './domains.js'
export * from './ed25519.js'
