export * from './paths';
export * from './managed-process';
export * from './temporal-cli';
export * from './dev-server';
export * from './local-service';
export * from './compose-topology';
export * from './temporal-server-build';
export * from './temporal-cluster';
