// A worker killed with SIGKILL mid multipart upload (no clean-up code runs) leaves nothing visible: no
// object, no listing entry. What it leaves is an incomplete multipart upload, which ListMultipartUploads
// shows and the bucket's lifecycle rule (AbortIncompleteMultipartUpload, docs/operators.md) removes.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { S3Store } from '../src/s3';
import { startTestS3, type TestS3 } from './s3-test-server';

let s3: TestS3;
beforeAll(async () => {
  s3 = await startTestS3();
}, 60_000);
afterAll(async () => s3?.stop());

const script = fileURLToPath(new URL('./fixtures/slow-upload.ts', import.meta.url));

it('kill -9 mid multipart upload leaves no object, only an incomplete upload for the lifecycle rule', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', script, 's3://out/run', 'cat-1/chair/fast.glb'], {
    env: { ...process.env, ...s3.server.env() },
    cwd: path.dirname(script),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));

  // Wait until the upload is under way with at least two parts in, so the kill lands mid-upload.
  const deadline = Date.now() + 60_000;
  let uploadId: string | undefined;
  while (Date.now() < deadline) {
    const uploads = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: 'out', Prefix: 'run/' }));
    uploadId = uploads.Uploads?.[0]?.UploadId;
    if (uploadId) {
      const parts = await s3.client.send(new ListPartsCommand({ Bucket: 'out', Key: 'run/cat-1/chair/fast.glb', UploadId: uploadId }));
      if ((parts.Parts?.length ?? 0) >= 2) break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(uploadId, `the uploader never got going: ${stderr}`).toBeDefined();
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');

  const store = new S3Store('s3://out/run', 'out', 'run', { client: s3.client });
  expect(await store.head('cat-1/chair/fast.glb')).toBeUndefined();
  const listed: string[] = [];
  for await (const item of store.list('')) listed.push(item.key);
  expect(listed).toEqual([]);
  const uploads = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: 'out', Prefix: 'run/' }));
  expect(uploads.Uploads?.map((upload) => upload.Key)).toEqual(['run/cat-1/chair/fast.glb']);
}, 90_000);
