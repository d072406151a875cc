// The one vocabulary of an asset's state. The CLI, report.json/report.csv, the dashboard (cards, filter,
// header, catalog list), the TrellisStage search attribute and the webhooks all use these words, so a
// reused SKU reads "reused" everywhere and a finished one "done".
import { z } from 'zod';

/** What became of an asset that finished (its workflow's result, its manifest, its webhook). */
export const finishedAssetStates = ['done', 'reused', 'failed', 'cancelled'] as const;

/** Every state a report row or a dashboard card can be in. */
export const assetStates = ['waiting', 'running', ...finishedAssetStates, 'invalid', 'not_converted'] as const;
export type AssetState = (typeof assetStates)[number];

/** What each word means, for help texts and the dashboard's filter. */
export const assetStateMeanings: Record<AssetState, string> = {
  waiting: 'not started yet',
  running: 'being converted now',
  done: 'converted by this run',
  reused: 'every output already made by an earlier run from the same inputs; nothing was converted',
  failed: 'could not be converted (the report says why)',
  cancelled: 'stopped by a cancel',
  invalid: 'the catalog row is not valid; never started',
  not_converted: 'the run ended before this row was started',
};

export const AssetStatus = z.enum(finishedAssetStates);
export type AssetStatus = z.infer<typeof AssetStatus>;

export const reportRowStates = ['done', 'reused', 'failed', 'cancelled', 'invalid', 'not_converted'] as const;
export const ReportRowState = z.enum(reportRowStates);
export type ReportRowState = z.infer<typeof ReportRowState>;

/**
 * How a finished catalog went, for its badge and the CLI's summary: `all done` when every row it ran was
 * done or reused, `some failed` when some were and others failed (or were cancelled, not converted),
 * `all failed` when none was. Invalid rows are never started; callers list them apart.
 * While it runs, its run status (running, paused, cancelling) says more.
 */
export type CatalogOutcome = 'all done' | 'some failed' | 'all failed' | 'nothing to do';

export function catalogOutcomeOf(counts: Partial<Record<AssetState, number>>): CatalogOutcome {
  const ok = (counts.done ?? 0) + (counts.reused ?? 0);
  // Of a finished catalog, rows still waiting were never converted.
  const bad = (counts.failed ?? 0) + (counts.cancelled ?? 0) + (counts.invalid ?? 0) + (counts.not_converted ?? 0) + (counts.waiting ?? 0);
  if (ok === 0 && bad === 0) return 'nothing to do';
  if (bad === 0) return 'all done';
  return ok === 0 ? 'all failed' : 'some failed';
}

/**
 * A running catalog's word for where it is: its run status, except that once every row has finished it
 * is only writing its report ("finishing"), not converting anything.
 */
export function runPhaseOf(status: string, finishedRows: number, totalRows: number | null): string {
  return status === 'running' && totalRows !== null && totalRows > 0 && finishedRows >= totalRows ? 'finishing' : status;
}

/** Why a run did no GPU work, in the words of its counts (the reason `describeUsage` gives for $0.00). */
export function whyNoGpuWork(counts: Partial<Record<AssetState, number>>): string {
  const [done, reused, failed] = [counts.done ?? 0, counts.reused ?? 0, counts.failed ?? 0];
  if (reused > 0 && done === 0 && failed === 0) return 'every output was reused from an earlier run';
  if (done + reused === 0 && failed > 0) return 'every asset failed before reaching the GPU';
  return 'nothing needed the GPU';
}
