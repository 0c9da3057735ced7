/**
 * Polyfills for Node 20. libp2p 3 (it-queue, @libp2p/utils, yamux) calls
 * `Promise.withResolvers`, which only Node 22 ships. Every entry point imports this file
 * first, and vitest loads it through `setupFiles`.
 */
if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>() {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new Promise<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}

export {}
