// Safe deploys: the workflows that move to a new worker version while they run (catalogs and webhook deliveries
// are AUTO_UPGRADE; libs/workers/src/versioning.ts) must continue the histories the previous release wrote.
// tests/replay-histories holds such histories, recorded on a real dev server by this file with
// TRELLIS_RECORD_HISTORIES=1 (`npm run record-histories`); every run replays them on today's workflow code.
// Re-record only when a release is cut: a change that fails here would break the catalogs running at deploy time
// (use patched() for it, or make the change on a PINNED workflow).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import { DeterminismViolationError } from '@temporalio/workflow';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { startCatalogConversion } from '@trellis/cli';
import { catalogWorkflowId } from '@trellis/contracts';
import { workflowsPath } from '@trellis/workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareConversion } from '../../apps/cli/src/conversion-input';
import { writeCatalog } from '../harness/catalogs';
import { startConversionStack } from '../harness/conversion-stack';

const historiesDir = path.resolve(import.meta.dirname, '..', 'replay-histories');
const recording = process.env.TRELLIS_RECORD_HISTORIES === '1';
const silentLogger = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };

interface RecordedHistory {
  workflowId: string;
  workflowType: string;
  /** The history as Temporal's own protobuf bytes, base64: what the server sent, nothing re-encoded. */
  historyProtobuf: string;
}

function recordedHistories(): RecordedHistory[] {
  return fs
    .readdirSync(historiesDir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => JSON.parse(fs.readFileSync(path.join(historiesDir, name), 'utf8')) as RecordedHistory);
}

async function replay(bundle: WorkflowBundleWithSourceMap, recorded: RecordedHistory) {
  const history = temporal.api.history.v1.History.decode(Buffer.from(recorded.historyProtobuf, 'base64'));
  await Worker.runReplayHistory({ workflowBundle: bundle, replayName: recorded.workflowId }, history, recorded.workflowId);
}

describe.runIf(recording)('recording the histories of a release', () => {
  let receiver: http.Server;
  let receiverUrl: string;
  beforeAll(async () => {
    process.env.TRELLIS_WEBHOOK_SECRET ??= `whsec_${randomBytes(32).toString('base64')}`;
    receiver = http.createServer((request, response) => request.resume().on('end', () => response.writeHead(204).end()));
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
  });
  afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

  it('converts a catalog with a failing row and webhooks, and keeps its histories', async () => {
    const stack = await startConversionStack('record-histories');
    try {
      const catalogPath = writeCatalog(path.join(stack.workDir, 'release'), {
        rows: [
          { sku: 'MUG-1', image: 'mug.png', presets: 'fast' },
          { sku: 'LAMP-2', image: 'lamp.png', presets: 'fast' },
          { sku: 'MISSING-3', image: 'not-there.png', presets: 'fast' },
        ],
      });
      const prepared = await prepareConversion({ catalog: catalogPath, out: path.join(stack.workDir, 'out'), catalogId: 'release', pipeline: '512' });
      const input = { ...prepared.input, concurrency: 2, notify: { url: receiverUrl, assets: true } };
      const handle = await startCatalogConversion(stack.client, input, { taskQueue: stack.taskQueue });
      await handle.result();
      fs.rmSync(historiesDir, { recursive: true, force: true });
      fs.mkdirSync(historiesDir, { recursive: true });
      const kept: string[] = [];
      // Every execution of the AUTO_UPGRADE types this run made: the catalog and its webhook deliveries.
      for await (const execution of stack.client.workflow.list({ query: `WorkflowType IN ('convertCatalog', 'notifyWebhook') AND TaskQueue = '${stack.taskQueue}'` })) {
        const history = await stack.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
        const name = `${execution.type}-${execution.workflowId.replace(/[^A-Za-z0-9._-]+/g, '_')}.json`;
        const historyProtobuf = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('base64');
        const recorded: RecordedHistory = { workflowId: execution.workflowId, workflowType: execution.type, historyProtobuf };
        fs.writeFileSync(path.join(historiesDir, name), `${JSON.stringify(recorded)}\n`);
        kept.push(name);
      }
      expect(kept.some((name) => name.startsWith('convertCatalog'))).toBe(true);
      expect(kept.some((name) => name.startsWith('notifyWebhook'))).toBe(true);
      expect(handle.workflowId).toBe(catalogWorkflowId('release'));
    } finally {
      await stack.stop();
    }
  });
});

describe.skipIf(recording)('the previous release’s running workflows continue on this code', () => {
  let bundle: WorkflowBundleWithSourceMap;
  beforeAll(async () => {
    bundle = await bundleWorkflowCode({ workflowsPath, logger: silentLogger });
  });

  it.each(recordedHistories().map((recorded) => [recorded.workflowId, recorded] as const))('replays %s', async (_id, recorded) => {
    await replay(bundle, recorded);
  });

  it('fails on a deliberately incompatible change (convertCatalog waiting before it starts)', async () => {
    const incompatible = await bundleWorkflowCode({ workflowsPath: path.resolve(import.meta.dirname, '../harness/incompatible-workflows.ts'), logger: silentLogger });
    const catalog = recordedHistories().find((recorded) => recorded.workflowType === 'convertCatalog');
    expect(catalog).toBeDefined();
    await expect(replay(incompatible, catalog!)).rejects.toBeInstanceOf(DeterminismViolationError);
  });
});
