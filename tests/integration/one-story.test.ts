// What a person reads must agree everywhere: on a new catalog, a rerun, a half-done catalog and catalogs
// with failures, the CLI's summary (live and from the report on disk), the report, `trellis estimate`,
// the dashboard's list, header and cards, and the TrellisStage search attribute tell one story: the same
// words for each asset, the same counts, the same GPU seconds and dollars, to the cent.
import fs from 'node:fs';
import path from 'node:path';
import { startCatalogConversion } from '@trellis/cli';
import { CatalogReport, catalogOutcomeOf, describeUsage, formatUsd, whyNoGpuWork, type CatalogResult } from '@trellis/contracts';
import { catalogReportPaths } from '@trellis/activities/files';
import { skuKey, stageKey } from '@trellis/workflows/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareConversion, type ConversionFlags } from '../../apps/cli/src/conversion-input';
import { estimateConversion, type CostEstimate } from '../../apps/cli/src/estimate';
import { resultOfReport, summarizeResult } from '../../apps/cli/src/watch';
import { catalogDetail, listCatalogs, type CatalogSummary } from '../../apps/dashboard/src/catalog-data';
import { writeCatalog } from '../harness/catalogs';
import { startConversionStack, type ConversionStack } from '../harness/conversion-stack';

let stack: ConversionStack;
let outDir: string;

beforeAll(async () => {
  stack = await startConversionStack('one-story');
  outDir = path.join(stack.workDir, 'out');
});
afterAll(async () => {
  await stack?.stop();
});

interface Told {
  estimate: CostEstimate;
  result: CatalogResult;
  report: CatalogReport;
  cli: string;
  listed: CatalogSummary;
}

/** Estimates, runs and then reads the catalog everywhere a person would, checking they agree. */
async function runAndRead(flags: ConversionFlags & { catalogId: string }): Promise<Told> {
  const prepared = await prepareConversion(flags);
  const estimate = await estimateConversion(prepared, { checkOutputs: true });
  const handle = await startCatalogConversion(stack.client, prepared.input, { taskQueue: stack.taskQueue });
  const result = await handle.result();
  const paths = catalogReportPaths(outDir, flags.catalogId);
  const report = CatalogReport.parse(JSON.parse(fs.readFileSync(paths.json, 'utf8')));
  const cli = summarizeResult(result);

  // `trellis report` / `status` without Temporal read the report: the same summary as the live run.
  expect(summarizeResult(resultOfReport(report, paths))).toBe(cli);
  expect(report.usage).toEqual(result.usage);

  // The dashboard: list, header and cards (once visibility, which lags a moment, has the run closed).
  let listed: CatalogSummary | undefined;
  await expect
    .poll(async () => {
      listed = (await listCatalogs(stack.client, outDir)).catalogs.find((catalog) => catalog.catalogId === flags.catalogId);
      return listed?.live;
    }, { timeout: 20_000 })
    .toBe(false);
  if (!listed) throw new Error('not listed on the dashboard');
  const { waiting: _waiting, running: _running, ...finishedCounts } = result.counts;
  expect(listed.counts).toMatchObject(finishedCounts);
  expect(listed.usageText).toBe(describeUsage(result.usage, whyNoGpuWork(result.counts)));
  expect(cli).toContain(`\n${listed.usageText}\n`);
  expect(listed.badge).toBe(catalogOutcomeOf(result.counts));
  expect(cli).toContain(`completed (${listed.badge})`);
  const detail = (await catalogDetail(stack.client, outDir, flags.catalogId))!;
  expect(detail.live).toBe(false);
  expect(detail.badge).toBe(listed.badge);
  const reportStates = new Map(report.rows.map((row) => [row.sku, row.status]));
  for (const card of detail.skus) expect(card.status, card.sku).toBe(reportStates.get(card.sku));

  // The Temporal search attribute ends on the same word as the report and the card.
  await expect
    .poll(async () => {
      // The newest execution of each asset (a rerun starts the same workflow ids again).
      const newest = new Map<string, { stage: string; startedAt: number }>();
      const query = `WorkflowType = 'convertAsset' AND TrellisCatalogId = '${flags.catalogId}' AND ExecutionStatus != 'Running'`;
      for await (const asset of stack.client.workflow.list({ query })) {
        const sku = asset.typedSearchAttributes.get(skuKey);
        const stage = asset.typedSearchAttributes.get(stageKey);
        const startedAt = asset.startTime.getTime();
        if (sku && stage && startedAt >= (newest.get(sku)?.startedAt ?? 0)) newest.set(sku, { stage, startedAt });
      }
      return Object.fromEntries([...newest].map(([sku, { stage }]) => [sku, stage]).sort());
    }, { timeout: 20_000 })
    .toEqual(Object.fromEntries(report.rows.filter((row) => row.status !== 'invalid').map((row) => [row.sku, row.status]).sort()));
  return { estimate, result, report, cli, listed };
}

/** The estimate that applies: with its cold start only when the run found the GPU cold and paid one. */
const expectedOf = ({ estimate, report }: Pick<Told, 'estimate' | 'report'>) => (report.warmUpUsage?.estimatedCostUsd ? estimate.usage : estimate.warmUsage);

function expectEstimateAgrees(told: Told): void {
  const expected = expectedOf(told);
  expect(told.report.usage.gpuSeconds).toBe(expected.gpuSeconds);
  expect(formatUsd(told.report.usage.estimatedCostUsd)).toBe(formatUsd(expected.estimatedCostUsd));
  expect(Math.abs(told.report.usage.estimatedCostUsd - expected.estimatedCostUsd)).toBeLessThan(0.005);
}

describe('one story everywhere', () => {
  it('a new catalog, its rerun and a half-done one: estimate and run agree to the cent; CLI, report, dashboard and Temporal agree', async () => {
    const catalog = writeCatalog(path.join(stack.workDir, 'shelf'), {
      rows: [
        { sku: 'MUG-1', image: 'mug.png' },
        { sku: 'LAMP-1', image: 'lamp.png' },
        { sku: 'CHAIR-1', image: 'chair.png' },
      ],
    });
    const flags = { catalog, out: outDir, catalogId: 'shelf', pipeline: '512', presets: 'fast' };

    const first = await runAndRead(flags);
    expect(first.result.counts).toMatchObject({ done: 3, reused: 0, failed: 0 });
    expect(first.estimate).toMatchObject({ doneRows: 0, generations: 3, extractions: 3, coldStart: true });
    expectEstimateAgrees(first);
    // The CPU backend's own seconds are said apart from the A100 figures the price comes from.
    expect(first.report.usage).toMatchObject({ costBasis: 'seed-table', backend: 'cpu' });
    expect(first.cli).toMatch(/GPU work on an A100 ≈ \d+ s ≈ \$\d+\.\d\d \(ran on the local CPU backend in \d+\.\d s\)/);
    console.log(`new catalog: ${first.cli.split('\n')[1]}; estimate ${describeUsage(expectedOf(first))}`);

    // A rerun converts nothing: reused everywhere, no warm-up, $0.00, and the estimate said so.
    const rerun = await runAndRead(flags);
    expect(rerun.estimate).toMatchObject({ doneRows: 3, generations: 0, extractions: 0, coldStart: false });
    expect(rerun.estimate.usage.estimatedCostUsd).toBe(0);
    expect(rerun.result.counts).toMatchObject({ done: 0, reused: 3, failed: 0 });
    expect(rerun.report.warmUpUsage).toBeUndefined();
    expect(rerun.report.usage.estimatedCostUsd).toBe(0);
    expect(rerun.cli).toContain('no GPU work: $0.00 (every output was reused from an earlier run)');
    expect(rerun.listed.badge).toBe('all done');
    expectEstimateAgrees(rerun);

    // Half done: a preset added since. Only the new GLBs are made, and priced as estimated.
    const half = await runAndRead({ ...flags, presets: 'fast,balanced' });
    expect(half.estimate).toMatchObject({ doneRows: 0, partlyDoneRows: 3, extractions: 3 });
    expect(half.result.counts).toMatchObject({ done: 3, failed: 0 });
    expectEstimateAgrees(half);
    console.log(`half-done: ${half.cli.split('\n')[1]}; estimate ${describeUsage(expectedOf(half))}`);
  }, 300_000);

  it('catalogs with failures: a badge that says some or all failed, the same counts and words everywhere', async () => {
    const some = writeCatalog(path.join(stack.workDir, 'some'), {
      rows: [{ sku: 'MUG-2', image: 'mug.png' }, { sku: 'BROKEN-2', image: 'broken.png' }],
      files: { 'broken.png': Buffer.from('this is not a PNG') },
    });
    const partly = await runAndRead({ catalog: some, out: outDir, catalogId: 'some-failed', pipeline: '512', presets: 'fast' });
    expect(partly.result.counts).toMatchObject({ done: 1, failed: 1 });
    expect(partly.listed.badge).toBe('some failed');
    // The card's error names the file by a path relative to the output folder, never this machine's.
    const card = (await catalogDetail(stack.client, outDir, 'some-failed'))!.skus.find((sku) => sku.sku === 'BROKEN-2')!;
    expect(card.error).toMatch(/broken\.png/);
    expect(card.error).not.toContain(stack.workDir);

    const none = writeCatalog(path.join(stack.workDir, 'none'), {
      rows: [{ sku: 'BROKEN-3', image: 'broken.png' }],
      files: { 'broken.png': Buffer.from('this is not a PNG') },
    });
    const failed = await runAndRead({ catalog: none, out: outDir, catalogId: 'all-failed', pipeline: '512', presets: 'fast' });
    expect(failed.listed.badge).toBe('all failed');
    expect(failed.cli).toContain('Catalog all-failed completed (all failed): 0 done, 0 reused, 1 failed');

    // A dashboard on another output folder lists none of these (it could read none of their files), and says
    // how many catalogs of the namespace write elsewhere.
    const otherFolder = path.join(stack.workDir, 'another-out');
    const other = await listCatalogs(stack.client, otherFolder);
    expect(other.catalogs.map((catalog) => catalog.catalogId)).not.toContain('some-failed');
    expect(other.elsewhere).toBeGreaterThanOrEqual(2);
    expect(await catalogDetail(stack.client, otherFolder, 'some-failed')).toBeUndefined();
  }, 180_000);
});
