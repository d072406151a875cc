// The S3 test server harness: versitygw on a free loopback port over a temp folder, with fresh root
// credentials in its environment (never its command line), buckets made up front, and stopped for good.
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { startS3Server } from '../src/s3-server';
import { eventually, isRunning, tempDir } from './helpers';

it('starts versitygw with its buckets, refuses anonymous requests, and stops', async () => {
  const workDir = await tempDir();
  const server = await startS3Server({ workDir, buckets: ['outputs', 'inputs'] });
  try {
    expect(fs.existsSync(path.join(server.dataDir, 'outputs'))).toBe(true);
    const anonymous = await fetch(`${server.endpoint}/outputs?list-type=2`);
    expect(anonymous.status).toBe(403);
    expect(server.env()).toEqual({
      AWS_ENDPOINT_URL_S3: server.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
    });
    const commandLine = fs.readFileSync(`/proc/${server.process.pid}/cmdline`, 'utf8');
    expect(commandLine).not.toContain(server.credentials.secretAccessKey);
  } finally {
    await server.stop();
  }
  expect(await eventually(() => !isRunning(server.process.pid), 5000)).toBe(true);
}, 60_000);
