/**
 * Transfer: moving a firmware image from many neighbours to a device safely (DESIGN.md §5).
 * A publisher cuts the image into fixed-size chunks and commits a manifest of their SHA-256
 * hashes (by CID) in the release record. A device downloads the chunks from several neighbours
 * at once: the pure `SwarmScheduler` decides which chunk to ask of whom (rarest first, windows
 * sized by each neighbour's rate, timeouts, end-game, strikes and bans) and the `ChunkStore`
 * verifies each chunk, writes it at its offset, records it held once durable (so a restart
 * resumes) and verifies the whole image at the end. The pure `UploadQueue` shares upload slots
 * fairly among the neighbours this node serves. The chunk protocol's messages are in
 * messages.ts. The scheduler and the upload queue are sans-IO: src/node drives them with
 * libp2p and real time, simulations/ with a virtual network; only chunk-store.ts and
 * image-store.ts touch files.
 */
export * from './bitfield.js'
export * from './held-state.js'
export * from './manifest.js'
export * from './manifests-ahead.js'
export * from './messages.js'
export { ChunkPicker } from './picker.js'
export * from './scheduler.js'
export * from './seed-policy.js'
export * from './session.js'
export * from './upload.js'
