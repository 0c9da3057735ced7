// Stands in for @chainsafe/as-chacha20poly1305 and @chainsafe/as-sha256 in dist/fwmesh.mjs
// (scripts/bundle.ts): noise imports them at load, which instantiates their WebAssembly
// (~8 MB RSS), but the node gives noise a node:crypto implementation
// (src/node/noise-crypto.ts) and never calls them. Any call fails loudly.
function unused() {
  throw new Error('fwmesh bundle: WebAssembly crypto is left out; use src/node/noise-crypto.ts')
}
export function newInstance() {
  return undefined
}
export class ChaCha20Poly1305 {
  seal() {
    unused()
  }
  open() {
    unused()
  }
}
export function digest() {
  unused()
}
