export { startDashboard, type Dashboard, type DashboardOptions } from './server';
export { DashboardConfigError, TOKEN_ENV, checkBinding, parseNamedToken, tokensMatch, type NamedToken, type ReviewerHeaderRule } from './access';
export { BulkApproveRequest, DecisionRequest, ReviewQueue, ReviewQueueEntry } from './review-queue';
export { keyOfUrlPath, UnsafePathError } from './safe-path';
export type { StartCatalog } from './try-one-image';
export type { CatalogDetail, CatalogSummary, SkuView } from './catalog-data';
