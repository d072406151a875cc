export { startDashboard, type Dashboard, type DashboardOptions } from './server';
export { DashboardConfigError, TOKEN_ENV, checkBinding, tokensMatch } from './access';
export { keyOfUrlPath, UnsafePathError } from './safe-path';
export type { StartCatalog } from './try-one-image';
export type { CatalogDetail, CatalogSummary, SkuView } from './catalog-data';
