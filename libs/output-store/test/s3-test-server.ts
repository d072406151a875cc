// One versitygw per test file (started by the test like the Temporal dev server), with a bucket `out`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { startS3Server, type S3Server } from '@trellis/devstack';
import { createS3Client } from '../src/s3-store';

export interface TestS3 {
  server: S3Server;
  client: S3Client;
  stop(): Promise<void>;
}

export async function startTestS3(buckets: string[] = ['out']): Promise<TestS3> {
  const workDir = await mkdtemp(path.join(tmpdir(), 'output-store-s3-'));
  const server = await startS3Server({ workDir, buckets });
  const client = createS3Client(server.env());
  return {
    server,
    client,
    async stop() {
      client.destroy();
      await server.stop();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}
