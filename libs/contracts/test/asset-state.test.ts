import { describe, expect, it } from 'vitest';
import { AssetManifest, AssetStatus, CatalogReport, StatusCounts, assetStates, catalogOutcomeOf, runPhaseOf } from '../src';

describe('the asset state vocabulary', () => {
  it('is one list, used by asset results, report rows and counts', () => {
    expect(assetStates).toEqual(['waiting', 'running', 'done', 'reused', 'failed', 'cancelled', 'invalid', 'not_converted']);
    expect(AssetStatus.parse('reused')).toBe('reused');
    expect(AssetStatus.safeParse('skipped-ish').success).toBe(false);
  });

  it('reads files and histories written with the former words (succeeded, skipped, pending)', () => {
    expect(AssetStatus.parse('succeeded')).toBe('done');
    expect(AssetStatus.parse('skipped')).toBe('reused');
    expect(StatusCounts.parse({ pending: 1, running: 0, succeeded: 2, skipped: 3, failed: 0, cancelled: 0 })).toEqual({
      waiting: 1, running: 0, done: 2, reused: 3, failed: 0, cancelled: 0,
    });
    const usage = { gpuSeconds: 0, estimatedCostUsd: 0, costBasis: 'measured' };
    const report = CatalogReport.parse({
      catalogId: 'old', catalogPath: '/c.csv', outDir: '/out', generatedAt: '2026-01-01T00:00:00Z',
      counts: { succeeded: 1, skipped: 1 }, usage,
      rows: [{ row: 1, sku: 'A', status: 'skipped', glbs: {}, usage }], problems: [],
    });
    expect(report.counts).toEqual({ done: 1, reused: 1 });
    expect(report.rows[0]!.status).toBe('reused');
    expect(AssetManifest.shape.status).toBe(AssetStatus);
  });

  it('a catalog badge says whether all, some or none of its SKUs succeeded', () => {
    expect(catalogOutcomeOf({ done: 5, reused: 1 })).toBe('all done');
    expect(catalogOutcomeOf({ reused: 6 })).toBe('all done');
    expect(catalogOutcomeOf({ done: 3, failed: 1 })).toBe('some failed');
    expect(catalogOutcomeOf({ failed: 1 })).toBe('all failed');
    expect(catalogOutcomeOf({ invalid: 2 })).toBe('all failed');
  });

  it('a run whose rows have all finished is finishing, not running', () => {
    expect(runPhaseOf('running', 6, 6)).toBe('finishing');
    expect(runPhaseOf('running', 5, 6)).toBe('running');
    expect(runPhaseOf('paused', 6, 6)).toBe('paused');
  });
});
