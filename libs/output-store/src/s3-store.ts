// The out location as S3-compatible object storage: key `a/b/c` of `s3://bucket/prefix` is the object
// `prefix/a/b/c`. Configured by the standard AWS chain (env, shared config and credentials files, instance
// roles); AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) points at an S3-compatible server, and then requests
// are path-style, which such servers expect.
//
// Whole or nothing: small objects are one PutObject; streams go through lib-storage's multipart upload,
// which completes only after every part is in and aborts the upload on any failure. The bytes are hashed on
// the way: if they do not match the expected sha256, the source fails before its end, so the upload is
// aborted instead of completed. Every request carries x-amz-checksum-sha256 (per part for multipart), so the
// server checks what it received too. The object's sha256 is kept in its metadata (`x-amz-meta-sha256`),
// which `head` reads back. A process killed mid-upload leaves only an incomplete multipart upload: never
// visible as an object, cleaned by the bucket's lifecycle rule (docs/operators.md).
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { checkedStream } from './hashing';
import { OutputConflictError, type LocalCopy, type ObjectInfo, type OutputStore, type PutOptions, type PutResult, type PutStreamOptions, type StreamBody } from './output-store';
import { checkedKey } from './store-key';

/** lib-storage's minimum part size: memory per upload is about partSize x (queueSize + 1). */
export const S3_PART_SIZE = 5 * 1024 * 1024;
/** One part in flight while the next is read: a GLB never sits in memory whole. */
export const S3_QUEUE_SIZE = 1;
export const PRESIGNED_URL_SECONDS = 300;

export interface S3StoreOptions {
  client?: S3Client;
  partSize?: number;
  queueSize?: number;
}

/**
 * A client configured from `env` the way the AWS chain reads the process's own: AWS_ENDPOINT_URL_S3 /
 * AWS_ENDPOINT_URL, AWS_REGION, and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY when set (else the rest of the
 * chain: shared files, SSO, instance roles). Tests and benchmarks pass their own env; the product uses
 * process.env through defaultS3Client.
 */
export function createS3Client(env: NodeJS.ProcessEnv = process.env): S3Client {
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined;
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = env;
  return new S3Client({
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    ...(region ? { region } : {}),
    ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } } : {}),
    // Retries with backoff for 503 SlowDown, resets and timeouts; each attempt resends the whole request.
    maxAttempts: 6,
  });
}

/** One client per process: it keeps its connections and its credentials cache. */
let sharedClient: S3Client | undefined;

export function defaultS3Client(): S3Client {
  sharedClient ??= createS3Client(process.env);
  return sharedClient;
}

export class S3Store implements OutputStore {
  readonly presigns = true;
  private readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(
    readonly location: string,
    private readonly bucket: string,
    private readonly prefix: string,
    options: S3StoreOptions = {},
  ) {
    this.client = options.client ?? defaultS3Client();
    this.partSize = options.partSize ?? S3_PART_SIZE;
    this.queueSize = options.queueSize ?? S3_QUEUE_SIZE;
  }

  describe(key: string): string {
    return `s3://${this.bucket}/${this.objectKey(key)}`;
  }

  async putBytes(key: string, data: string | Uint8Array, options: PutOptions = {}): Promise<PutResult> {
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    const digest = createHash('sha256').update(body).digest();
    const sha256 = digest.toString('hex');
    const input: PutObjectCommandInput = {
      Bucket: this.bucket,
      Key: this.objectKey(key),
      Body: body,
      ContentLength: body.byteLength,
      ChecksumSHA256: digest.toString('base64'),
      Metadata: { sha256 },
      ...(options.contentType ? { ContentType: options.contentType } : {}),
      ...(options.mode === 'create' ? { IfNoneMatch: '*' } : {}),
    };
    try {
      await this.client.send(new PutObjectCommand(input));
    } catch (error) {
      await this.settleConflict(error, key, sha256, options);
    }
    return { bytes: body.byteLength, sha256 };
  }

  async putStream(key: string, body: StreamBody, options: PutStreamOptions = {}): Promise<PutResult> {
    const where = this.describe(key);
    const checked = checkedStream(body, where, options.expectedSha256);
    const expected = options.expectedSha256?.toLowerCase();
    const upload = new Upload({
      client: this.client,
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
      params: {
        Bucket: this.bucket,
        Key: this.objectKey(key),
        Body: checked.stream,
        ChecksumAlgorithm: 'SHA256',
        // The sha256 is known up front when the service gave it; otherwise it is not in the metadata
        // (head then reports the object's sha256 as unknown, and reuse does not trust it).
        ...(expected ? { Metadata: { sha256: expected } } : {}),
        ...(options.contentType ? { ContentType: options.contentType } : {}),
        ...(options.mode === 'create' ? { IfNoneMatch: '*' } : {}),
      },
    });
    // Cancelling fails the source rather than calling upload.abort(): lib-storage's abort() settles done()
    // at once while the upload goes on in the background, whereas a failed source makes done() wait until
    // the multipart upload is aborted at the server, so nothing is left behind when this returns.
    const onAbort = () => checked.stream.destroy(options.signal?.reason instanceof Error ? options.signal.reason : new Error('aborted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (options.signal?.aborted) throw options.signal.reason;
      await upload.done();
    } catch (error) {
      checked.stream.destroy();
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      const sha256 = safeResult(checked.result);
      if (sha256 === undefined) throw error;
      await this.settleConflict(error, key, sha256, options);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    return checked.result();
  }

  async getStream(key: string): Promise<Readable | undefined> {
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return answer.Body as Readable;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async getBytes(key: string): Promise<Buffer | undefined> {
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return Buffer.from(await (answer.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Buffer | undefined> {
    if (end <= start) return (await this.head(key)) === undefined ? undefined : Buffer.alloc(0);
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Range: `bytes=${start}-${end - 1}` }));
      return Buffer.from(await (answer.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
    } catch (error) {
      if (isNotFound(error)) return undefined;
      // A range that starts past the end (416): nothing there, as a local read would say.
      if (statusOf(error) === 416) return Buffer.alloc(0);
      throw error;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const answer = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), ChecksumMode: 'ENABLED' }));
      const fromMetadata = answer.Metadata?.['sha256'];
      const sha256 = fromMetadata && /^[0-9a-f]{64}$/.test(fromMetadata) ? fromMetadata : fullObjectSha256(answer.ChecksumSHA256, answer.ChecksumType);
      return { key, bytes: answer.ContentLength ?? 0, sha256 };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async localCopy(key: string): Promise<LocalCopy | undefined> {
    const body = await this.getStream(key);
    if (body === undefined) return undefined;
    const folder = await mkdtemp(path.join(tmpdir(), 'trellis-copy-'));
    const filePath = path.join(folder, path.posix.basename(key));
    const release = () => rm(folder, { recursive: true, force: true });
    try {
      await pipeline(body, createWriteStream(filePath, { flags: 'wx', mode: 0o600 }));
    } catch (error) {
      await release();
      throw error;
    }
    return { path: filePath, release };
  }

  async *list(folderKey: string): AsyncIterable<ObjectInfo> {
    const rootPrefix = this.prefix === '' ? '' : `${this.prefix}/`;
    const prefix = folderKey === '' ? rootPrefix : `${this.objectKey(folderKey)}/`;
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const item of page.Contents ?? []) {
        if (item.Key === undefined || item.Key.endsWith('/')) continue;
        yield { key: item.Key.slice(rootPrefix.length), bytes: item.Size ?? 0, sha256: undefined };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async listFolders(folderKey: string): Promise<string[]> {
    const rootPrefix = this.prefix === '' ? '' : `${this.prefix}/`;
    const prefix = folderKey === '' ? rootPrefix : `${this.objectKey(folderKey)}/`;
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }));
      for (const common of page.CommonPrefixes ?? []) {
        const name = common.Prefix?.slice(prefix.length).replace(/\/$/, '');
        if (name) names.push(name);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return names.sort();
  }

  async presignedGetUrl(key: string, options: { expiresInSeconds?: number; contentType?: string } = {}): Promise<string> {
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: this.objectKey(key),
      ...(options.contentType ? { ResponseContentType: options.contentType } : {}),
    });
    return getSignedUrl(this.client, command, { expiresIn: options.expiresInSeconds ?? PRESIGNED_URL_SECONDS });
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
  }

  private objectKey(key: string): string {
    return this.prefix === '' ? checkedKey(key) : `${this.prefix}/${checkedKey(key)}`;
  }

  /** A `create` write that found the object there: a retry of the same bytes is success, other bytes a conflict. */
  private async settleConflict(error: unknown, key: string, sha256: string, options: PutOptions): Promise<void> {
    if (options.mode !== 'create' || !isPreconditionFailed(error)) throw error;
    const existing = await this.head(key);
    if (existing?.sha256 !== sha256) throw new OutputConflictError(this.describe(key), existing?.sha256, sha256);
  }
}

function safeResult(result: () => { sha256: string }): string | undefined {
  try {
    return result().sha256;
  } catch {
    return undefined;
  }
}

/** A single PutObject's checksum is of the whole object; a multipart one is of the parts' checksums. */
function fullObjectSha256(checksum: string | undefined, type: string | undefined): string | undefined {
  if (!checksum || type === 'COMPOSITE' || checksum.includes('-')) return undefined;
  const bytes = Buffer.from(checksum, 'base64');
  return bytes.byteLength === 32 ? bytes.toString('hex') : undefined;
}

function statusOf(error: unknown): number | undefined {
  return error instanceof S3ServiceException ? error.$metadata.httpStatusCode : (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string })?.name;
  return statusOf(error) === 404 || name === 'NoSuchKey' || name === 'NotFound';
}

function isPreconditionFailed(error: unknown): boolean {
  const name = (error as { name?: string })?.name;
  return statusOf(error) === 412 || name === 'PreconditionFailed';
}
