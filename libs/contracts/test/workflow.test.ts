import { describe, expect, it } from 'vitest';
import {
  AssetResult,
  assetWorkflowId,
  builtInPresets,
  CatalogProgress,
  catalogWorkflowId,
  ConvertCatalogInput,
  StorageLocation,
  SamplerSettings,
  TASK_QUEUE,
  taskQueueFrom,
} from '../src';

const settings = {
  presets: [{ name: 'fast', settings: builtInPresets.fast }],
  defaultPresetNames: ['fast'],
  pipelineType: '1024_cascade',
  seed: 42,
  sampler: SamplerSettings.parse({}),
};
const base = { catalogId: 'spring-2026', catalogPath: '/data/spring.csv', outDir: '/data/out', settings };

describe('workflow ids', () => {
  it('are catalog/<catalogId> and asset/<catalogId>/<sku> on task queue "trellis"', () => {
    expect(catalogWorkflowId('spring-2026')).toBe('catalog/spring-2026');
    expect(assetWorkflowId('spring-2026', 'MUG-1')).toBe('asset/spring-2026/MUG-1');
    expect(TASK_QUEUE).toBe('trellis');
  });

  it('take the task queue from TRELLIS_TASK_QUEUE, else "trellis"', () => {
    expect(taskQueueFrom({ TRELLIS_TASK_QUEUE: 'gpu-east' })).toBe('gpu-east');
    expect(taskQueueFrom({ TRELLIS_TASK_QUEUE: '  ' })).toBe('trellis');
    expect(taskQueueFrom({})).toBe('trellis');
  });
});

describe('ConvertCatalogInput', () => {
  it('defaults to 4 assets at once, pages of 100 rows, continue-as-new after 200 children', () => {
    const parsed = ConvertCatalogInput.parse(base);
    expect(parsed).toMatchObject({ concurrency: 4, pageSize: 100, continueAsNewAfter: 200 });
    expect(parsed.settings).toEqual(settings);
  });

  it('checks bounds and the catalog id', () => {
    const pathsOf = (value: object) => ConvertCatalogInput.safeParse({ ...base, ...value }).error?.issues.map((issue) => issue.path.join('.'));
    expect(pathsOf({ concurrency: 0 })).toEqual(['concurrency']);
    expect(pathsOf({ concurrency: 501 })).toEqual(['concurrency']);
    expect(ConvertCatalogInput.parse({ ...base, concurrency: 500 }).concurrency).toBe(500);
    expect(pathsOf({ pageSize: 1001 })).toEqual(['pageSize']);
    expect(pathsOf({ continueAsNewAfter: 0 })).toEqual(['continueAsNewAfter']);
    expect(pathsOf({ catalogId: 'Spring 2026' })).toEqual(['catalogId']);
    expect(pathsOf({ settings: { ...settings, presets: [] } })).toEqual(['settings.presets']);
    expect(pathsOf({ settings: { ...settings, defaultPresetNames: [] } })).toEqual(['settings.defaultPresetNames']);
  });
});

describe('results and progress', () => {
  const usage = { gpuSeconds: 1, estimatedCostUsd: 0.001, costBasis: 'measured' };

  it('AssetResult keys GLBs by preset name and checks sha256 digests', () => {
    const glb = { file: 'fast.glb', bytes: 10, sha256: 'a'.repeat(64), reused: false };
    const result = { sku: 'A', row: 1, status: 'done', glbs: { fast: glb }, usage, generateCalls: 1, extractCalls: 1 };
    expect(AssetResult.safeParse(result).success).toBe(true);
    expect(AssetResult.safeParse({ ...result, glbs: { Fast: glb } }).success).toBe(false);
    expect(AssetResult.safeParse({ ...result, glbs: { fast: { ...glb, sha256: 'A'.repeat(64) } } }).success).toBe(false);
    expect(AssetResult.safeParse({ ...result, status: 'finished' }).success).toBe(false);
  });

  it('CatalogProgress allows an unknown total before the first page is loaded', () => {
    const counts = { waiting: 0, running: 1, done: 0, reused: 0, failed: 0, cancelled: 0 };
    const progress = {
      catalogId: 'c',
      status: 'running',
      totalRows: null,
      invalidRows: 0,
      counts,
      running: [{ sku: 'A', stage: 'generating' }],
      usage,
      runNumber: 1,
    };
    expect(CatalogProgress.safeParse(progress).success).toBe(true);
    expect(CatalogProgress.safeParse({ ...progress, running: [{ sku: 'A', stage: 'baking' }] }).success).toBe(false);
    expect(CatalogProgress.safeParse({ ...progress, runNumber: 0 }).success).toBe(false);
  });
});

describe('StorageLocation (catalogPath and outDir of a workflow input)', () => {
  it('takes local paths and s3://bucket/prefix, and refuses other schemes and credentials in the location', () => {
    for (const ok of ['/shared/out', 'relative/out', 's3://outputs', 's3://outputs/team/runs', 's3://my.bucket-1/a/catalog.csv']) {
      expect(StorageLocation.safeParse(ok).success, ok).toBe(true);
    }
    for (const bad of ['', 'https://example.com/out', 's3://AKIA:secret@outputs/x', 's3://Outputs/x', 'gs://bucket/x', 's3://a']) {
      expect(StorageLocation.safeParse(bad).success, bad).toBe(false);
    }
  });
});
