import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['integration/**/*.test.ts'],
    // One real Temporal dev server (and local service) for the whole run, started and torn down here.
    globalSetup: ['./harness/global-setup.ts'],
    setupFiles: ['./harness/quiet-runtime.ts'],
    // The Temporal Runtime is one per process: give every test file its own process.
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
