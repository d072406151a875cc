// What the S3 test server really does with the features the S3 store relies on (docs/operators.md lists
// the findings): these talk to versitygw directly, below the store, so a server that ignored a header
// would show here rather than pass silently.
import { createHash, randomBytes } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestS3, type TestS3 } from './s3-test-server';

let s3: TestS3;
beforeAll(async () => {
  s3 = await startTestS3();
}, 60_000);
afterAll(async () => s3?.stop());

const sha256Base64 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('base64');
const statusOf = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

describe('versitygw v1.8.0 (posix backend)', () => {
  it('checks x-amz-checksum-sha256 on PutObject and refuses bytes that do not match', async () => {
    const body = Buffer.from('the real bytes');
    const wrong = sha256Base64(Buffer.from('other bytes'));
    const error = await s3.client.send(new PutObjectCommand({ Bucket: 'out', Key: 'probe/put', Body: body, ChecksumSHA256: wrong })).catch((e: unknown) => e);
    expect(statusOf(error)).toBe(400);
    expect(await s3.client.send(new HeadObjectCommand({ Bucket: 'out', Key: 'probe/put' })).catch(statusOf)).toBe(404);
    await s3.client.send(new PutObjectCommand({ Bucket: 'out', Key: 'probe/put', Body: body, ChecksumSHA256: sha256Base64(body) }));
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'out', Key: 'probe/put', ChecksumMode: 'ENABLED' }));
    expect(head.ChecksumSHA256).toBe(sha256Base64(body));
  });

  it('checks x-amz-checksum-sha256 on UploadPart', async () => {
    const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: 'out', Key: 'probe/mpu', ChecksumAlgorithm: 'SHA256' }));
    const part = randomBytes(1024);
    const error = await s3.client
      .send(new UploadPartCommand({ Bucket: 'out', Key: 'probe/mpu', UploadId, PartNumber: 1, Body: part, ChecksumSHA256: sha256Base64(Buffer.from('x')) }))
      .catch((e: unknown) => e);
    expect(statusOf(error)).toBe(400);
  });

  it('honours If-None-Match: * on PutObject and on CompleteMultipartUpload (412 when the object exists)', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket: 'out', Key: 'probe/once', Body: 'first', IfNoneMatch: '*' }));
    const again = await s3.client.send(new PutObjectCommand({ Bucket: 'out', Key: 'probe/once', Body: 'second', IfNoneMatch: '*' })).catch((e: unknown) => e);
    expect(statusOf(again)).toBe(412);

    const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: 'out', Key: 'probe/once', ChecksumAlgorithm: 'SHA256' }));
    const part = randomBytes(1024);
    const { ETag, ChecksumSHA256 } = await s3.client.send(
      new UploadPartCommand({ Bucket: 'out', Key: 'probe/once', UploadId, PartNumber: 1, Body: part, ChecksumSHA256: sha256Base64(part) }),
    );
    const complete = await s3.client
      .send(new CompleteMultipartUploadCommand({ Bucket: 'out', Key: 'probe/once', UploadId, IfNoneMatch: '*', MultipartUpload: { Parts: [{ PartNumber: 1, ETag, ChecksumSHA256 }] } }))
      .catch((e: unknown) => e);
    expect(statusOf(complete)).toBe(412);
  });
});
