/**
 * The ledger of upgrade records (DESIGN.md §3): transactions and the rules every validator
 * and follower applies to them, blocks with commit certificates, follower verification, and
 * the interface of the store that keeps them (`ledger-store.ts`). Everything here is pure:
 * the LevelDB implementation of that store is in src/node/store/level-ledger-store.ts.
 */
export * from './block.js'
export * from './certificate.js'
export * from './dev-chain.js'
export * from './genesis.js'
export * from './ledger-store.js'
export * from './manifest-id.js'
export * from './rejection.js'
export * from './rules.js'
export * from './semver.js'
export * from './state.js'
export * from './state-root.js'
export * from './tx.js'
export * from './verify-block.js'
