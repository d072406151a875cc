// The OutputStore contract, run against both implementations with the same tests: the local folder and
// S3 (a real versitygw over a temp folder, never a mock).
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChecksumMismatchError, LocalFolderStore, OutputConflictError, sha256Hex, StoreKeyError, type OutputStore } from '../src/index';
import { S3Store } from '../src/s3';
import { startTestS3, type TestS3 } from './s3-test-server';

let s3: TestS3;
let localRoot: string;
let counter = 0;

beforeAll(async () => {
  s3 = await startTestS3();
  localRoot = await mkdtemp(path.join(tmpdir(), 'output-store-local-'));
}, 60_000);

afterAll(async () => {
  await s3?.stop();
  if (localRoot) await rm(localRoot, { recursive: true, force: true });
});

// Small parts so a few MB already take the multipart path (5 MiB is S3's minimum part size).
const PART = 5 * 1024 * 1024;

const implementations: Array<[string, () => OutputStore]> = [
  ['local folder', () => new LocalFolderStore(localRoot, path.join(localRoot, `t${++counter}`))],
  ['S3 (versitygw)', () => new S3Store(`s3://out/t${++counter}`, 'out', `t${counter}`, { client: s3.client, partSize: PART, queueSize: 1 })],
];

async function collect(iterable: AsyncIterable<{ key: string }>): Promise<string[]> {
  const keys: string[] = [];
  for await (const item of iterable) keys.push(item.key);
  return keys.sort();
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** `bytes` in chunks, optionally failing after `failAfter` bytes (a download that breaks). */
async function* chunked(bytes: Buffer, chunkSize = 256 * 1024, failAfter?: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.byteLength; offset += chunkSize) {
    if (failAfter !== undefined && offset >= failAfter) throw new Error('connection reset by the service');
    yield bytes.subarray(offset, offset + chunkSize);
  }
}

async function incompleteUploads(): Promise<number> {
  const answer = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: 'out' }));
  return answer.Uploads?.length ?? 0;
}

describe.each(implementations)('OutputStore contract: %s', (name, makeStore) => {
  it('puts bytes whole and reads them back, with size and sha256', async () => {
    const store = makeStore();
    const text = '{"hello":"world"}\n';
    const put = await store.putBytes('cat-1/chair/manifest.json', text, { contentType: 'application/json' });
    expect(put).toEqual({ bytes: Buffer.byteLength(text), sha256: sha256Hex(text) });
    expect((await store.getBytes('cat-1/chair/manifest.json'))?.toString('utf8')).toBe(text);
    expect(await store.head('cat-1/chair/manifest.json')).toEqual({ key: 'cat-1/chair/manifest.json', bytes: put.bytes, sha256: put.sha256 });
    expect((await readAll((await store.getStream('cat-1/chair/manifest.json'))!)).toString('utf8')).toBe(text);
  });

  it('reads byte ranges, clamped to the object', async () => {
    const store = makeStore();
    await store.putBytes('cat-1/.trellis/rows.jsonl', '0123456789');
    expect((await store.getRange('cat-1/.trellis/rows.jsonl', 2, 5))?.toString()).toBe('234');
    expect((await store.getRange('cat-1/.trellis/rows.jsonl', 8, 100))?.toString()).toBe('89');
    expect((await store.getRange('cat-1/.trellis/rows.jsonl', 20, 30))?.toString()).toBe('');
    expect(await store.getRange('cat-1/.trellis/none', 0, 3)).toBeUndefined();
  });

  it('answers undefined for what is not there', async () => {
    const store = makeStore();
    expect(await store.getBytes('cat-1/none/manifest.json')).toBeUndefined();
    expect(await store.getStream('cat-1/none/fast.glb')).toBeUndefined();
    expect(await store.head('cat-1/none/fast.glb')).toBeUndefined();
    expect(await collect(store.list('cat-1'))).toEqual([]);
  });

  it('streams a multi-part object with the expected sha256, and the store vouches for it', async () => {
    const store = makeStore();
    const bytes = randomBytes(2 * PART + 12345);
    const sha256 = sha256Hex(bytes);
    const put = await store.putStream('cat-1/chair/fast.glb', chunked(bytes), { expectedSha256: sha256, contentType: 'model/gltf-binary' });
    expect(put).toEqual({ bytes: bytes.byteLength, sha256 });
    expect(await store.head('cat-1/chair/fast.glb')).toEqual({ key: 'cat-1/chair/fast.glb', bytes: bytes.byteLength, sha256 });
    expect(sha256Hex(await readAll((await store.getStream('cat-1/chair/fast.glb'))!))).toBe(sha256);
  });

  it('writes nothing when the bytes do not match the expected sha256, and keeps what was there', async () => {
    const store = makeStore();
    const before = await store.putBytes('cat-1/chair/fast.glb', 'the earlier GLB');
    for (const size of [1000, 2 * PART + 7]) {
      const bytes = randomBytes(size);
      await expect(store.putStream('cat-1/chair/fast.glb', chunked(bytes), { expectedSha256: 'a'.repeat(64) })).rejects.toBeInstanceOf(ChecksumMismatchError);
      await expect(store.putStream('cat-1/chair/new.glb', chunked(bytes), { expectedSha256: 'a'.repeat(64) })).rejects.toBeInstanceOf(ChecksumMismatchError);
    }
    expect((await store.head('cat-1/chair/fast.glb'))?.sha256).toBe(before.sha256);
    expect(await store.head('cat-1/chair/new.glb')).toBeUndefined();
    expect(await collect(store.list('cat-1'))).toEqual(['cat-1/chair/fast.glb']);
    if (name.startsWith('S3')) expect(await incompleteUploads()).toBe(0); // aborted, not left behind
  });

  it('writes nothing when the source fails midway (small or multi-part)', async () => {
    const store = makeStore();
    const bytes = randomBytes(3 * PART);
    await expect(store.putStream('cat-1/chair/fast.glb', chunked(bytes, 256 * 1024, 1024 * 1024))).rejects.toThrow(/connection reset/);
    await expect(store.putStream('cat-1/chair/big.glb', chunked(bytes, 256 * 1024, 2 * PART + 1))).rejects.toThrow(/connection reset/);
    expect(await collect(store.list(''))).toEqual([]);
    if (name.startsWith('S3')) expect(await incompleteUploads()).toBe(0);
  });

  it('an abort stops the write, leaves nothing, and rethrows the caller\'s reason', async () => {
    const store = makeStore();
    const controller = new AbortController();
    const reason = new Error('cancelled by Temporal');
    const endless = new ReadableStream<Uint8Array>({
      pull: async (streamController) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        streamController.enqueue(new Uint8Array(256 * 1024));
      },
    });
    setTimeout(() => controller.abort(reason), 300);
    await expect(store.putStream('cat-1/x.glb', endless, { signal: controller.signal })).rejects.toBe(reason);
    expect(await collect(store.list(''))).toEqual([]);
    if (name.startsWith('S3')) expect(await incompleteUploads()).toBe(0);
  });

  it('replaces by default, atomically', async () => {
    const store = makeStore();
    await store.putBytes('cat-1/report.json', 'first');
    await store.putStream('cat-1/report.json', Readable.from([Buffer.from('second')]));
    expect((await store.getBytes('cat-1/report.json'))?.toString()).toBe('second');
  });

  it('create mode: writes once; the same bytes again are a success, other bytes a conflict that changes nothing', async () => {
    const store = makeStore();
    const small = Buffer.from('content-addressed image');
    await store.putBytes('inputs/abc.png', small, { mode: 'create' });
    await expect(store.putBytes('inputs/abc.png', small, { mode: 'create' })).resolves.toEqual({ bytes: small.byteLength, sha256: sha256Hex(small) });
    await expect(store.putBytes('inputs/abc.png', 'other bytes', { mode: 'create' })).rejects.toBeInstanceOf(OutputConflictError);
    const big = randomBytes(PART + 99);
    const bigSha = sha256Hex(big);
    await store.putStream('cat-1/chair/fast.glb', chunked(big), { mode: 'create', expectedSha256: bigSha });
    await expect(store.putStream('cat-1/chair/fast.glb', chunked(big), { mode: 'create', expectedSha256: bigSha })).resolves.toEqual({ bytes: big.byteLength, sha256: bigSha });
    const other = randomBytes(PART + 99);
    await expect(store.putStream('cat-1/chair/fast.glb', chunked(other), { mode: 'create', expectedSha256: sha256Hex(other) })).rejects.toBeInstanceOf(OutputConflictError);
    expect((await store.head('inputs/abc.png'))?.sha256).toBe(sha256Hex(small));
    expect((await store.head('cat-1/chair/fast.glb'))?.sha256).toBe(bigSha);
    if (name.startsWith('S3')) expect(await incompleteUploads()).toBe(0);
  });

  it('lists a folder and only that folder', async () => {
    const store = makeStore();
    for (const key of ['cat-1/a/manifest.json', 'cat-1/b/.trellis/preview.json', 'cat-10/a/manifest.json', 'cat-1/report.csv']) await store.putBytes(key, key);
    expect(await collect(store.list('cat-1'))).toEqual(['cat-1/a/manifest.json', 'cat-1/b/.trellis/preview.json', 'cat-1/report.csv']);
    expect(await collect(store.list('cat-1/b'))).toEqual(['cat-1/b/.trellis/preview.json']);
    expect(await collect(store.list(''))).toHaveLength(4);
    expect(await store.listFolders('')).toEqual(['cat-1', 'cat-10']);
    expect(await store.listFolders('cat-1')).toEqual(['a', 'b']);
    expect(await store.listFolders('cat-2')).toEqual([]);
  });

  it('gives a local file copy for tools that read files, and nothing for what is not there', async () => {
    const store = makeStore();
    await store.putBytes('cat-1/chair/preview.mp4', 'video bytes');
    const copy = (await store.localCopy('cat-1/chair/preview.mp4'))!;
    expect(await readFile(copy.path, 'utf8')).toBe('video bytes');
    await copy.release();
    expect(await store.localCopy('cat-1/none/preview.mp4')).toBeUndefined();
    expect(await store.head('cat-1/chair/preview.mp4')).toBeDefined(); // releasing a copy never touches the store
  });

  it('deletes', async () => {
    const store = makeStore();
    await store.putBytes('cat-1/chair/preview.mp4', 'video');
    await store.delete('cat-1/chair/preview.mp4');
    await store.delete('cat-1/chair/preview.mp4'); // twice is fine
    expect(await store.head('cat-1/chair/preview.mp4')).toBeUndefined();
  });

  it('refuses keys that could leave the out location', async () => {
    const store = makeStore();
    for (const key of ['../escape.json', 'a/../../b', '/etc/passwd', 'a//b', 'a\\b', '', 'a/./b', 'a/']) {
      await expect(store.putBytes(key, 'x')).rejects.toBeInstanceOf(StoreKeyError);
      await expect(store.getBytes(key)).rejects.toBeInstanceOf(StoreKeyError);
    }
  });

  it('gives a short-lived GET URL that needs no credential (object storage), none for a folder', async () => {
    const store = makeStore();
    await store.putBytes('cat-1/chair/fast.glb', 'glb bytes');
    const url = await store.presignedGetUrl('cat-1/chair/fast.glb', { expiresInSeconds: 60 });
    expect(store.presigns).toBe(url !== undefined);
    if (url === undefined) return;
    const answer = await fetch(url);
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe('glb bytes');
    const tampered = await fetch(url.replace('fast.glb', 'other.glb'));
    expect(tampered.status).toBe(403);
  });
});

describe('local folder specifics', () => {
  it('leaves no temp files behind after writes, failed or not', async () => {
    const root = path.join(localRoot, 'temps');
    const store = new LocalFolderStore(root, root);
    await store.putBytes('a/x.json', '1');
    await expect(store.putStream('a/y.glb', chunked(randomBytes(1000)), { expectedSha256: 'b'.repeat(64) })).rejects.toBeInstanceOf(ChecksumMismatchError);
    expect(await readdir(path.join(root, 'a'))).toEqual(['x.json']);
  });
});
