export * from './temporal-config';
export * from './worker';
export * from './worker-log';
export * from './worker-memory';
export * from './versioning';
export * from './finish-worker';
