// How a worker process is started so its memory stays bounded over a 10,000-row catalog (measured in
// docs/benchmarks.md). The npm scripts that start a worker (`npm run worker`, this package's `start`)
// spell the same defaults out; a test keeps them equal to these.
//
// - V8 heap limits: with the default limit (derived from the machine's memory) V8 lets garbage pile up to
//   hundreds of MB before collecting it, in the main isolate and in the workflow thread's. A worker's live JS
//   heap is ~60 MB with a 16-wide catalog window; results and images are Buffers, outside this limit.
//   A much wider window or many more concurrent activities may need more: set TRELLIS_WORKER_NODE_FLAGS.
// - MALLOC_ARENA_MAX: glibc gives each thread that allocates (Temporal's Rust core, libuv, libvips) an
//   arena of its own, which stays resident; one arena costs no throughput here.

export const WORKER_NODE_FLAGS = ['--max-old-space-size=96', '--max-semi-space-size=1'] as const;

export const WORKER_MEMORY_ENV = { MALLOC_ARENA_MAX: '1' } as const;
