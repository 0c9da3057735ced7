/**
 * Consensus among the validators (DESIGN.md §4): PBFT with n = 3f+1, one block decided at a
 * time, as sans-IO state machines. `Replica` is a validator: a mempool of rule-checked
 * transactions with a fair share per signer, pre-prepare / prepare / commit whose 2f+1
 * commit signatures are the block's certificate, view changes with prepared proofs carried
 * over and NEW-VIEWs that every replica recomputes, and catch-up from peers. `SafetyRules`
 * alone holds the validator key and the persisted safety record and signs for the replica,
 * refusing any signature that contradicts an earlier one, also after a restart.
 * `Follower` is what devices run: it only verifies and applies committed blocks. Messages and
 * their codec are in `messages.ts`; the node carries them over libp2p, the simulator over a
 * virtual network, and both drive the very same objects through one `ReplicaDriver`
 * (`replica-driver.ts`), which carries out a replica's outputs in order for its host.
 */
export * from './follower.js'
export * from './limits.js'
export * from './memory-store.js'
export * from './mempool.js'
export * from './messages.js'
export * from './replica.js'
export * from './replica-driver.js'
export * from './safety.js'
export * from './safety-rules.js'
export * from './sync.js'
export * from './view-change.js'
