// Foundation check: a real dev server, a worker with a bundled workflow and an activity, a client, and a
// replay of the recorded history as a guard against non-deterministic workflow changes.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { searchAttributeNames } from '@trellis/contracts';
import * as activities from './fixtures/greeting-activities';

const workflowsPath = fileURLToPath(new URL('./fixtures/greeting-workflow.ts', import.meta.url));
const taskQueue = `foundation-${randomUUID()}`;

let connection: Connection;
let client: Client;
let workerConnection: NativeConnection;
let workflowBundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection, namespace: inject('temporalNamespace') });
  workerConnection = await NativeConnection.connect({ address: inject('temporalAddress') });
  workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: quietLogger() });
});

afterAll(async () => {
  await connection?.close();
  await workerConnection?.close();
});

function quietLogger() {
  const noop = () => undefined;
  return { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop };
}

describe('Temporal dev server harness', () => {
  it('has the project search attributes registered', async () => {
    const response = await connection.operatorService.listSearchAttributes({ namespace: inject('temporalNamespace') });
    for (const name of Object.values(searchAttributeNames)) {
      expect(Object.keys(response.customAttributes ?? {})).toContain(name);
    }
  });

  it('runs a bundled workflow with an activity on a real worker, and replays its history', async () => {
    const worker = await Worker.create({
      connection: workerConnection,
      namespace: inject('temporalNamespace'),
      taskQueue,
      workflowBundle,
      activities,
    });
    const workflowId = `greet-${randomUUID()}`;
    const result = await worker.runUntil(
      client.workflow.execute('greet', { taskQueue, workflowId, args: ['catalog'] }),
    );
    expect(result).toBe('Hello, catalog (from activity attempt 1)!');

    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    expect(history.events?.length).toBeGreaterThan(5);
    await expect(Worker.runReplayHistory({ workflowBundle }, history, workflowId)).resolves.toBeUndefined();
  });
});
