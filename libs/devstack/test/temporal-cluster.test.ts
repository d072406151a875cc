// The self-hosted cluster of docker-compose.temporal.yml, run for real: PostgreSQL, the schema script,
// the pinned server, the setup script; then a kill -9 of the server and a restart on the same database.
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { searchAttributeDefinitions } from '@trellis/contracts';
import { afterAll, describe, expect, it } from 'vitest';
import { interpolateCompose, readComposeTopology, rewriteComposeScript } from '../src/compose-topology';
import { startTemporalCluster, type TemporalCluster } from '../src/temporal-cluster';
import { tempDir } from './helpers';

describe('reading docker-compose.temporal.yml', () => {
  it('interpolates as compose does: defaults, set values, $$ left to the shell', () => {
    expect(interpolateCompose('${A:-x} ${B:-y} ${C-z} $$D ${E}', { A: 'a', B: '', C: '' })).toBe('a y  $D ');
  });

  it('takes the server version, the database settings and both scripts from the file', () => {
    const topology = readComposeTopology({ TEMPORAL_NAMESPACE: 'shop-a' });
    expect(topology.serverVersion).toMatch(/^v\d+\.\d+\.\d+$/);
    expect(topology.serverEnv).toMatchObject({ DB: 'postgres12', POSTGRES_USER: 'temporal', POSTGRES_PWD: 'temporal' });
    expect(topology.schemaScript).toContain('temporal-sql-tool');
    expect(topology.setupEnv.TRELLIS_NAMESPACE).toBe('shop-a');
    expect(topology.setupScript).toContain('$TRELLIS_NAMESPACE');
  });

  it('a compose script that no longer says what the harness translates is an error naming the service', () => {
    expect(() => rewriteComposeScript('temporal-sql-tool --ep db', 'temporal-schema', '--ep postgresql', '--ep 127.0.0.1')).toThrow(
      /service temporal-schema's command no longer contains --ep postgresql/,
    );
  });
});

describe('the PostgreSQL-backed cluster', () => {
  let cluster: TemporalCluster | undefined;
  afterAll(async () => {
    await cluster?.stop();
  });

  it('comes up with the namespace and the search attributes, and keeps a workflow across a kill -9 of the server', async () => {
    const workDir = await tempDir('cluster-');
    const started = Date.now();
    cluster = await startTemporalCluster({ workDir, namespace: 'trellis-cluster-test' });
    console.log(`cluster (PostgreSQL, schemas, server, namespace) ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const connection = await Connection.connect({ address: cluster.address });
    try {
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: cluster.namespace });
      for (const { name } of searchAttributeDefinitions) expect(Object.keys(customAttributes ?? {}), name).toContain(name);
      // The schema script left the versioned updates applied in both databases.
      expect(fs.readFileSync(path.join(workDir, 'temporal-schema.log'), 'utf8')).toContain('schemas ready');

      // A workflow no worker polls for: it waits in PostgreSQL through the crash.
      const client = new Client({ connection, namespace: cluster.namespace });
      await client.workflow.start('noWorkerPollsThis', { taskQueue: 'nobody', workflowId: 'survives-restart', args: [] });
      await cluster.restartServer({ crash: true });
    } finally {
      await connection.close();
    }
    const after = await Connection.connect({ address: cluster.address });
    try {
      const client = new Client({ connection: after, namespace: cluster.namespace });
      const description = await client.workflow.getHandle('survives-restart').describe();
      expect(description.status.name).toBe('RUNNING');
      await client.workflow.getHandle('survives-restart').terminate('test done');
    } finally {
      await after.close();
    }
  }, 240_000);
});
