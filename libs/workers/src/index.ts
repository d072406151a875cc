export * from './worker';
export * from './finish-worker';
export * from './versioning';
export * from './worker-log';
