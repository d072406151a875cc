export * from './temporal-config';
export * from './worker';
