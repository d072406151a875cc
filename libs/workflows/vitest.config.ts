import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // One Temporal Runtime per process, and each file starts its own dev server.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    setupFiles: ['./test/quiet-runtime.ts'],
  },
});
