import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['./src/polyfills.ts'],
    globalSetup: ['./test/global-setup.ts'],
    // Two cores on CI: forks keep native modules (classic-level) isolated per file.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
