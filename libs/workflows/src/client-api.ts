// What code outside workflows (CLI, worker, tests) needs from this package, without the workflow bundle.
export * from './messages';
export * from './search-attributes';
