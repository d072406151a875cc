export * from './worker-memory';
