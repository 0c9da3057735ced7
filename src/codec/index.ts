/**
 * Canonical encoding of every fwmesh record: DAG-CBOR, CIDv1 over sha2-256, and typed
 * decoders with explicit limits that return typed errors instead of throwing.
 */
export * from './assert.js'
export * from './bytes.js'
export * from './cbor.js'
export * from './cid.js'
export * from './hash.js'
export * from './result.js'
export * as schema from './schema.js'
