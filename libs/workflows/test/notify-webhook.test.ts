// Completion webhooks end to end on a real dev server: the notifyWebhook workflow runs the real
// deliverWebhook activity against a receiver on loopback that fails the first attempts. The receiver
// checks every call with the standardwebhooks library, as a catalog owner would.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { Webhook } from 'standardwebhooks';
import { deliverWebhook } from '@trellis/activities';
import { WEBHOOK_SECRET_ENV, WebhookBody, type CatalogResult } from '@trellis/contracts';
import { startDevServer, type DevServer } from '@trellis/devstack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assetFinishedDelivery, catalogFinishedDelivery, webhookWorkflowId } from '../src/notify-options';

const workflowsPath = fileURLToPath(new URL('../src/notify-webhook.ts', import.meta.url));
const secret = `whsec_${randomBytes(32).toString('base64')}`;
let server: DevServer;
let client: Client;
let workerConnection: NativeConnection;

interface Received {
  headers: Record<string, string>;
  body: string;
}

/** Answers `failures` times with `failStatus`, then 200; records every call. */
async function startReceiver(failures: number, failStatus = 503) {
  const calls: Received[] = [];
  const receiver = http.createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    calls.push({ headers: request.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8') });
    response.writeHead(calls.length <= failures ? failStatus : 200).end();
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/trellis`;
  return { url, calls, close: () => new Promise<void>((resolve) => receiver.close(() => resolve())) };
}

const result: CatalogResult = {
  catalogId: 'spring',
  status: 'completed',
  counts: { waiting: 0, running: 0, done: 3, reused: 1, failed: 1, cancelled: 0 },
  usage: { gpuSeconds: 12.5, estimatedCostUsd: 0.0625, costBasis: 'seed-table' },
  reportJsonPath: '/shared/out/spring/report.json',
  reportCsvPath: '/shared/out/spring/report.csv',
};

async function runDelivery<T>(fn: () => Promise<T>): Promise<T> {
  const worker = await Worker.create({
    connection: workerConnection,
    namespace: server.namespace,
    taskQueue: `webhooks-${randomBytes(4).toString('hex')}`,
    workflowsPath,
    activities: { deliverWebhook },
  });
  taskQueue = worker.options.taskQueue;
  return worker.runUntil(fn);
}
let taskQueue = '';

beforeAll(async () => {
  process.env[WEBHOOK_SECRET_ENV] = secret; // the worker's environment: the only place the secret lives
  server = await startDevServer({ workDir: fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-webhooks-')) });
  client = new Client({ connection: await Connection.connect({ address: server.address }), namespace: server.namespace });
  workerConnection = await NativeConnection.connect({ address: server.address });
});

afterAll(async () => {
  delete process.env[WEBHOOK_SECRET_ENV];
  await client?.connection.close();
  await workerConnection?.close();
  await server?.stop();
});

describe('notifyWebhook + deliverWebhook', () => {
  it('retries a failing receiver with the same webhook-id, every call signed and verifiable, the secret nowhere in history', async () => {
    const receiver = await startReceiver(2);
    try {
      const delivery = catalogFinishedDelivery({ url: receiver.url }, result, 'first-run-id', new Date());
      const outcome = await runDelivery(async () => {
        const handle = await client.workflow.start('notifyWebhook', { taskQueue, workflowId: webhookWorkflowId(delivery.webhookId), args: [delivery] });
        const answer = await handle.result();
        const history = JSON.stringify(await handle.fetchHistory());
        expect(history).not.toContain(secret);
        expect(history).not.toContain(secret.slice('whsec_'.length));
        return answer;
      });
      expect(outcome).toEqual({ status: 200, attempt: 3 });
      expect(receiver.calls).toHaveLength(3);
      expect(new Set(receiver.calls.map((call) => call.headers['webhook-id']))).toEqual(new Set(['msg_catalog_spring_first-run-id']));
      const verifier = new Webhook(secret);
      for (const call of receiver.calls) {
        expect(verifier.verify(call.body, call.headers)).toMatchObject({ type: 'catalog.finished', data: { catalogId: 'spring' } });
        expect(() => verifier.verify(call.body.replace('"done":3', '"done":4'), call.headers)).toThrow();
      }
      // Same body on every attempt; the signature differs only because each attempt has its own timestamp.
      expect(new Set(receiver.calls.map((call) => call.body)).size).toBe(1);
      const body = WebhookBody.parse(JSON.parse(receiver.calls[0]!.body));
      expect(body.data).toMatchObject({ counts: result.counts, usage: result.usage, reportJsonPath: result.reportJsonPath });
      // A receiver with another secret rejects the call.
      expect(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(receiver.calls[0]!.body, receiver.calls[0]!.headers)).toThrow();
    } finally {
      await receiver.close();
    }
  });

  it('stops at 410 Gone (the receiver asks not to be called again) and sends asset events with their outputs', async () => {
    const receiver = await startReceiver(5, 410);
    try {
      const delivery = assetFinishedDelivery(
        { url: receiver.url },
        'spring',
        '/shared/out/spring/MUG-1',
        {
          sku: 'MUG-1',
          row: 2,
          status: 'failed',
          error: { code: 'image_unreadable', message: 'mug.png is not a PNG, JPEG or WebP image' },
          glbs: {},
          usage: { gpuSeconds: 0, estimatedCostUsd: 0, costBasis: 'seed-table' },
          generateCalls: 0,
          extractCalls: 0,
        },
        'asset-run-id',
        new Date(),
      );
      const failure = await runDelivery(() =>
        client.workflow.execute('notifyWebhook', { taskQueue, workflowId: webhookWorkflowId(delivery.webhookId), args: [delivery] }).then(
          () => undefined,
          (error: unknown) => error,
        ),
      );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      expect(String((failure as WorkflowFailedError).cause?.cause)).toContain('410');
      expect(receiver.calls).toHaveLength(1);
      expect(new Webhook(secret).verify(receiver.calls[0]!.body, receiver.calls[0]!.headers)).toMatchObject({
        type: 'asset.finished',
        data: { sku: 'MUG-1', status: 'failed', error: { code: 'image_unreadable' } },
      });
    } finally {
      await receiver.close();
    }
  });
});
