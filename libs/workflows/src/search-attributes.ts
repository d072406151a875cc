// Typed search-attribute keys (names from contracts), for workflow code and for clients starting workflows.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { searchAttributeNames } from '@trellis/contracts';

export const catalogIdKey = defineSearchAttributeKey(searchAttributeNames.catalogId, SearchAttributeType.KEYWORD);
export const skuKey = defineSearchAttributeKey(searchAttributeNames.sku, SearchAttributeType.KEYWORD);
export const stageKey = defineSearchAttributeKey(searchAttributeNames.stage, SearchAttributeType.KEYWORD);

/** A string literal for a visibility query. */
export const visibilityLiteral = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The visibility query for a catalog's asset workflows that are still running. */
export function runningAssetsQuery(catalogId: string): string {
  return `WorkflowType = 'convertAsset' AND ExecutionStatus = 'Running' AND ${searchAttributeNames.catalogId} = ${visibilityLiteral(catalogId)}`;
}
