/**
 * Transfer: moving a firmware image from many neighbours to a device safely (DESIGN.md §5).
 * A publisher cuts the image into fixed-size chunks and commits a manifest of their SHA-256
 * hashes (by CID) in the release record. A device downloads the chunks from several neighbours
 * at once: the pure `SwarmScheduler` decides which chunk to ask of whom (rarest first, windows
 * sized by each neighbour's rate, timeouts, end-game, strikes and bans) and a `ChunkStore`
 * verifies each chunk, writes it at its offset, records it held once durable (so a restart
 * resumes) and verifies the whole image at the end. The pure `UploadQueue` shares upload slots
 * fairly among the neighbours this node serves. The chunk protocol's messages are in
 * messages.ts. Everything here is sans-IO: src/node drives it with libp2p and real time,
 * simulations/ with a virtual network. chunk-store.ts is only the store's interface; the file
 * implementation (src/node/store/file-chunk-store.ts) and the image chunker that reads an
 * image file (src/node/store/image-chunker.ts) live with the node's other I/O.
 */
export * from './bitfield.js'
export * from './chunk-store.js'
export * from './held-state.js'
export * from './manifest.js'
export * from './manifests-ahead.js'
export * from './messages.js'
export { ChunkPicker } from './picker.js'
export * from './scheduler.js'
export * from './seed-policy.js'
export * from './session.js'
export * from './upload.js'
