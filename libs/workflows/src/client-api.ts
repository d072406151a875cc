// What code outside workflows (CLI, worker, dashboard, tests) needs from this package, without the workflow bundle.
export * from './messages';
export * from './search-attributes';
export * from './review-client';
