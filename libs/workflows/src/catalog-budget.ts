// `--max-cost`: the catalog pauses itself before the estimated cost so far (finished assets as measured,
// running ones as estimated) plus the next asset's estimate would pass the budget. Pure functions over
// the run state; estimates come from the seed's A100 table (estimatedAssetUsage), as in `trellis estimate`.
import { coldStartUsage, estimatedAssetUsage, type CatalogRunState, type PipelineType, type Preset } from '@trellis/contracts';

/** The next asset's expected cost; the run's first asset also carries one cold start of the GPU. */
export function assetCostEstimate(state: CatalogRunState, pipelineType: PipelineType, presets: readonly Preset[]): number {
  const first = state.usage.estimatedCostUsd === 0 && Object.keys(state.inFlight).length === 0;
  const asset = estimatedAssetUsage(pipelineType, presets.map((preset) => preset.settings.texture_size)).estimatedCostUsd;
  return asset + (first ? coldStartUsage.estimatedCostUsd : 0);
}

/** Spent so far plus what the running assets are expected to cost. */
export function committedCost(state: CatalogRunState): number {
  const running = Object.values(state.inFlight).reduce((sum, entry) => sum + (entry.estimatedCostUsd ?? 0), 0);
  return state.usage.estimatedCostUsd + running;
}

export function withinBudget(state: CatalogRunState, nextCost: number): boolean {
  return state.maxCostUsd === undefined || state.maxCostUsd === null || committedCost(state) + nextCost <= state.maxCostUsd;
}

export function budgetPauseReason(state: CatalogRunState, catalogId: string, sku: string, nextCost: number): string {
  return (
    `paused by --max-cost: $${committedCost(state).toFixed(4)} spent or running, and the next asset (SKU "${sku}", ~$${nextCost.toFixed(4)}) ` +
    `would pass the budget of $${(state.maxCostUsd ?? 0).toFixed(4)}. \`trellis resume ${catalogId}\` goes on without a budget; ` +
    `\`trellis resume ${catalogId} --max-cost USD\` sets a new one.`
  );
}
