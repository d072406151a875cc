// Workflows for the benchmark's Temporal floor (temporal-floor.ts): the cost of Temporal's steps alone on
// this machine, with activities that do nothing. Bundled on their own, never part of the product.
import { proxyActivities } from '@temporalio/workflow';

export interface FloorActivities {
  nothing(): Promise<void>;
}

const { nothing } = proxyActivities<FloorActivities>({ startToCloseTimeout: '1 minute' });

/** One activity step: the least an asset workflow that does any work costs. */
export async function oneStep(): Promise<void> {
  await nothing();
}

/**
 * The shape of convertAsset without its work: prepare → generate → three extracts at once → manifest.
 * What the steps alone cost is the most that removing work from inside them could save.
 */
export async function assetShaped(): Promise<void> {
  await nothing();
  await nothing();
  await Promise.all([nothing(), nothing(), nothing()]);
  await nothing();
}
