import { defineConfig } from 'vitest/config'

/**
 * `npm run test:fuzz`: the fuzz properties of test/fuzz at 100,000 cases per decoder
 * (FWMESH_FUZZ_CASES, set by the script). `npm test` runs the same files at 1,000. No build
 * step (the decoders are imported from src/) and no per-test deadline: a long run is expected,
 * and a hang shows as a run that does not end, with the last seed printed.
 */
export default defineConfig({
  test: {
    include: ['test/fuzz/**/*.test.ts'],
    setupFiles: ['./src/polyfills.ts'],
    pool: 'forks',
    testTimeout: 0,
    hookTimeout: 60_000,
  },
})
