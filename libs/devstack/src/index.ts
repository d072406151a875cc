export * from './paths';
export * from './managed-process';
export * from './temporal-cli';
export * from './dev-server';
export * from './local-service';
export * from './s3-server';
