// Typed search-attribute keys (names from contracts), for workflow code and for clients starting workflows.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { searchAttributeNames } from '@trellis/contracts';

export const catalogIdKey = defineSearchAttributeKey(searchAttributeNames.catalogId, SearchAttributeType.KEYWORD);
export const skuKey = defineSearchAttributeKey(searchAttributeNames.sku, SearchAttributeType.KEYWORD);
export const stageKey = defineSearchAttributeKey(searchAttributeNames.stage, SearchAttributeType.KEYWORD);
