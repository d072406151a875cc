// The programmatic API against a stand-in Temporal client: what it sends, and how it maps failures.
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { builtInPresets, SamplerSettings, searchAttributeNames, type CatalogReport } from '@trellis/contracts';
import { describe, expect, it } from 'vitest';
import {
  CatalogAlreadyRunningError,
  getCatalogProgress,
  readCatalogReport,
  startCatalogConversion,
  type ConvertCatalogInput,
} from '../src/api';
import { rejectionOf, tempDir } from './helpers';

const input: ConvertCatalogInput = {
  catalogId: 'spring',
  catalogPath: '/data/spring.csv',
  outDir: '/data/out',
  settings: {
    presets: [
      { name: 'fast', settings: builtInPresets.fast },
      { name: 'quality', settings: builtInPresets.quality },
    ],
    defaultPresetNames: ['fast'],
    pipelineType: '1024_cascade',
    seed: 42,
    sampler: SamplerSettings.parse({}),
  },
};

interface StartCall {
  workflowType: string;
  options: Record<string, unknown>;
}

function fakeClient(behaviour: { start?: () => Promise<unknown>; query?: () => Promise<unknown> } = {}) {
  const starts: StartCall[] = [];
  const handles: string[] = [];
  const client = {
    workflow: {
      start: async (workflowType: string, options: Record<string, unknown>) => {
        starts.push({ workflowType, options });
        return behaviour.start ? behaviour.start() : { workflowId: options.workflowId, firstExecutionRunId: 'run-1' };
      },
      getHandle: (workflowId: string) => {
        handles.push(workflowId);
        return { query: async () => (behaviour.query ? behaviour.query() : undefined) };
      },
    },
  };
  return { client: client as unknown as Client, starts, handles };
}

describe('startCatalogConversion', () => {
  it('starts convertCatalog as catalog/<id> on task queue "trellis" with the checked input and defaults', async () => {
    const { client, starts } = fakeClient();
    const handle = await startCatalogConversion(client, input);
    expect(handle.workflowId).toBe('catalog/spring');
    expect(starts).toHaveLength(1);
    const { workflowType, options } = starts[0]!;
    expect(workflowType).toBe('convertCatalog');
    expect(options).toMatchObject({ taskQueue: 'trellis', workflowId: 'catalog/spring' });
    expect(options.args).toEqual([
      { ...input, concurrency: 4, lookahead: 0, pageSize: 100, reconcileAfterSeconds: 300, continueAsNewAfter: 200, assetTimeoutSeconds: 10_800 },
    ]);
    const attributes = options.typedSearchAttributes as { key: { name: string }; value: unknown }[];
    expect(attributes.map(({ key, value }) => [key.name, value])).toEqual([[searchAttributeNames.catalogId, 'spring']]);
    expect(options.staticDetails).toContain('presets fast, quality');
  });

  it('a task queue can be chosen', async () => {
    const { client, starts } = fakeClient();
    await startCatalogConversion(client, input, { taskQueue: 'trellis-test' });
    expect(starts[0]!.options.taskQueue).toBe('trellis-test');
  });

  it('starts on TRELLIS_TASK_QUEUE when it is set, the queue the worker polls', async () => {
    const { client, starts } = fakeClient();
    const previous = process.env.TRELLIS_TASK_QUEUE;
    process.env.TRELLIS_TASK_QUEUE = 'gpu-east';
    try {
      await startCatalogConversion(client, input);
    } finally {
      if (previous === undefined) delete process.env.TRELLIS_TASK_QUEUE;
      else process.env.TRELLIS_TASK_QUEUE = previous;
    }
    expect(starts[0]!.options.taskQueue).toBe('gpu-east');
  });

  it('refuses invalid input without contacting Temporal', async () => {
    const { client, starts } = fakeClient();
    await expect(startCatalogConversion(client, { ...input, catalogId: 'Not Valid' })).rejects.toThrow(/catalogId/);
    await expect(startCatalogConversion(client, { ...input, concurrency: 0 })).rejects.toThrow(/concurrency/);
    expect(starts).toEqual([]);
  });

  it('a catalog that is already running becomes CatalogAlreadyRunningError with advice', async () => {
    const { client } = fakeClient({
      start: () => Promise.reject(new WorkflowExecutionAlreadyStartedError('already started', 'catalog/spring', 'convertCatalog')),
    });
    const error = await rejectionOf(startCatalogConversion(client, input));
    expect(error).toBeInstanceOf(CatalogAlreadyRunningError);
    expect(error.message).toBe('Catalog spring is already being converted. Watch it with `trellis status spring`, or cancel it first.');
  });

  it('other start failures pass through unchanged', async () => {
    const failure = new Error('deadline exceeded');
    const { client } = fakeClient({ start: () => Promise.reject(failure) });
    expect(await rejectionOf(startCatalogConversion(client, input))).toBe(failure);
  });
});

describe('getCatalogProgress', () => {
  it('queries catalog/<id> and checks the answer', async () => {
    const progress = {
      catalogId: 'spring',
      status: 'running',
      totalRows: 6,
      invalidRows: 0,
      counts: { waiting: 4, running: 1, done: 1, reused: 0, failed: 0, cancelled: 0 },
      running: [{ sku: 'MUG-1', stage: 'generating' }],
      usage: { gpuSeconds: 1, estimatedCostUsd: 0.02, costBasis: 'seed-table' },
      runNumber: 1,
    };
    const ok = fakeClient({ query: async () => progress });
    expect(await getCatalogProgress(ok.client, 'spring')).toEqual(progress);
    expect(ok.handles).toEqual(['catalog/spring']);
    const garbled = fakeClient({ query: async () => ({ ...progress, status: 'exploded' }) });
    await expect(getCatalogProgress(garbled.client, 'spring')).rejects.toThrow(/status/);
  });
});

describe('readCatalogReport', () => {
  it('reads and checks <outDir>/<catalogId>/report.json', async () => {
    const outDir = await tempDir();
    const report: CatalogReport = {
      catalogId: 'spring',
      catalogPath: '/data/spring.csv',
      outDir,
      generatedAt: '2026-01-01T00:00:00.000Z',
      counts: { done: 1 },
      usage: { gpuSeconds: 1, estimatedCostUsd: 0.02, costBasis: 'measured' },
      rows: [],
      problems: [],
    };
    fs.mkdirSync(path.join(outDir, 'spring'));
    fs.writeFileSync(path.join(outDir, 'spring', 'report.json'), JSON.stringify(report));
    expect(await readCatalogReport(outDir, 'spring')).toEqual(report);
    fs.writeFileSync(path.join(outDir, 'spring', 'report.json'), JSON.stringify({ ...report, rows: 'none' }));
    await expect(readCatalogReport(outDir, 'spring')).rejects.toThrow(/rows/);
  });
});
