export * from './temporal-settings';
export * from './connect';
