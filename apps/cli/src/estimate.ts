// `trellis estimate`: what converting a catalog will cost before anything runs — rows, generations, GLB
// extractions, GPU seconds and USD at A100 rates from the seed's timing table (the basis the run's own
// figures use on the local backend), with work an earlier run of the same catalog id already did
// subtracted by the same code the run's warm-up asks (catalogWorkOf).
import { coldStartUsage, describeUsage, formatUsd } from '@trellis/contracts';
import { catalogWorkOf, type CatalogWork } from '@trellis/activities/files';
import type { PreparedConversion } from './conversion-input';

export interface CostEstimate extends CatalogWork {
  catalogId: string;
  catalogPath: string;
  rows: number;
  invalidRows: number;
  /** False when no --out was given: nothing could be subtracted. */
  checkedOutputs: boolean;
}

export async function estimateConversion(prepared: PreparedConversion, options: { checkOutputs: boolean }): Promise<CostEstimate> {
  const { input } = prepared;
  const work = await catalogWorkOf(input, prepared.rows, options);
  return {
    catalogId: input.catalogId,
    catalogPath: input.catalogPath,
    rows: prepared.validRows,
    invalidRows: prepared.problems.length,
    ...work,
    checkedOutputs: options.checkOutputs,
  };
}

export function formatEstimate(estimate: CostEstimate): string {
  const todo = estimate.rows - estimate.doneRows;
  return [
    `Catalog ${estimate.catalogId} (${estimate.catalogPath}): ${estimate.rows} row(s) to convert` +
      (estimate.invalidRows ? `, ${estimate.invalidRows} invalid (listed above, not converted)` : ''),
    estimate.checkedOutputs
      ? `Already done by an earlier run: ${estimate.doneRows} row(s)` + (estimate.partlyDoneRows ? `, ${estimate.partlyDoneRows} partly` : '') + ` — ${todo} row(s) left`
      : 'No --out given: outputs of earlier runs were not checked (pass --out DIR to subtract them)',
    `Work: ${estimate.generations} generation(s), ${estimate.extractions} GLB extraction(s)` + (estimate.coldStart ? ', one cold start' : ''),
    `Estimate: ${describeUsage(estimate.usage, 'every output is already made')}` +
      (estimate.coldStart ? ` — incl. ${formatUsd(coldStartUsage.estimatedCostUsd)} for one cold start; ${formatUsd(estimate.warmUsage.estimatedCostUsd)} on a GPU that is already warm` : ''),
  ].join('\n');
}
