/**
 * Custom search attributes, so the Temporal Web UI can list a catalog's assets and filter by SKU or stage.
 * Type names are the ones `temporal server start-dev --search-attribute NAME=TYPE` and
 * `temporal operator search-attribute create --type` take. Kept free of SDK imports so workflow code,
 * the worker and the dev-server launcher all share one list.
 */
export const searchAttributeNames = {
  catalogId: 'TrellisCatalogId',
  sku: 'TrellisSku',
  stage: 'TrellisStage',
} as const;

export const searchAttributeDefinitions = [
  { name: searchAttributeNames.catalogId, type: 'Keyword' },
  { name: searchAttributeNames.sku, type: 'Keyword' },
  { name: searchAttributeNames.stage, type: 'Keyword' },
] as const;
