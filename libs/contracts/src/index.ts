export * from './catalog';
export * from './cost';
export * from './pipeline';
export * from './search-attributes';
export * from './service';
export * from './workflow';
export * from './notify-settings';
export * from './webhook';
