import { describe, expect, it } from 'vitest';
import { AssetManifest, AssetStatus, StatusCounts, assetStates, catalogOutcomeOf, runPhaseOf } from '../src';

describe('the asset state vocabulary', () => {
  it('is one list, used by asset results, report rows and counts', () => {
    expect(assetStates).toEqual(['waiting', 'running', 'done', 'reused', 'failed', 'cancelled', 'invalid', 'not_converted']);
    expect(AssetStatus.parse('reused')).toBe('reused');
    expect(AssetStatus.safeParse('skipped-ish').success).toBe(false);
  });

  it('knows only the current words: nothing was released under other ones', () => {
    expect(AssetStatus.safeParse('succeeded').success).toBe(false);
    expect(StatusCounts.safeParse({ pending: 1, running: 0, succeeded: 2, skipped: 3, failed: 0, cancelled: 0 }).success).toBe(false);
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
