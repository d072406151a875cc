import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Two of these files drive chromium with software WebGL, each with its own Temporal dev server and
    // worker: side by side on a 2-core machine they starve each other's frames (a model took over 60 s to
    // show). One file at a time costs no wall time here: the files' sum is what the parallel run took.
    fileParallelism: false,
  },
});
