import { createHash } from 'node:crypto';
import { readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { tempDir as tempDirUnder } from '@trellis/devstack/testing';
import { ChecksumMismatchError, LocalFolderStore } from '../src/index';

// The local folder's own guarantees (temp files beside the target, renamed into place); what every store
// guarantees is in output-store-contract.test.ts.
const tempDir = () => tempDirUnder('local-store-');
const storeAt = (dir: string) => new LocalFolderStore(dir, dir);

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

function webStream(chunks: Uint8Array[], failAfter?: number): ReadableStream<Uint8Array> {
  let index = 0;
  return new ReadableStream({
    pull(controller) {
      if (failAfter !== undefined && index === failAfter) return controller.error(new Error('connection reset'));
      const chunk = chunks[index++];
      if (chunk === undefined) controller.close();
      else controller.enqueue(chunk);
    },
  });
}

describe('local folder store: atomic writes', () => {
  it('putBytes creates parent folders, replaces the old file, leaves no temp file', async () => {
    const dir = await tempDir();
    const target = path.join(dir, 'a', 'b', 'out.json');
    await storeAt(dir).putBytes('a/b/out.json', '{"v":1}');
    await storeAt(dir).putBytes('a/b/out.json', new TextEncoder().encode('{"v":2}'));
    expect(await readFile(target, 'utf8')).toBe('{"v":2}');
    expect(await readdir(path.dirname(target))).toEqual(['out.json']);
  });

  it('a complete write removes the temp files a killed writer of the same target left, and only those', async () => {
    const dir = await tempDir();
    const target = path.join(dir, 'fast.glb');
    await writeFile(path.join(dir, '.fast.glb.4242-abcdef012345.tmp'), 'half a glb'); // its writer got kill -9
    await writeFile(path.join(dir, '.quality.glb.4242-abcdef012345.tmp'), 'another target, still being written');
    await storeAt(dir).putStream('fast.glb', Readable.from([Buffer.from('glb')]));
    expect(await readFile(target, 'utf8')).toBe('glb');
    expect((await readdir(dir)).sort()).toEqual(['.quality.glb.4242-abcdef012345.tmp', 'fast.glb']);
  });

  it('putStream takes web and Node streams and reports size and sha256', async () => {
    const dir = await tempDir();
    const parts = [Buffer.from('hello '), Buffer.from('glb '), Buffer.from('bytes')];
    const fromWeb = await storeAt(dir).putStream('web.glb', webStream(parts));
    const fromNode = await storeAt(dir).putStream('sub/node.glb', Readable.from(parts), { expectedSha256: sha256('hello glb bytes') });
    for (const result of [fromWeb, fromNode]) expect(result).toEqual({ bytes: 15, sha256: sha256('hello glb bytes') });
    expect(await readFile(path.join(dir, 'sub', 'node.glb'), 'utf8')).toBe('hello glb bytes');
  });

  it('a sha256 mismatch writes nothing and keeps the previous file', async () => {
    const dir = await tempDir();
    const target = path.join(dir, 'fast.glb');
    await writeFile(target, 'previous good file');
    const error = await storeAt(dir).putStream('fast.glb', webStream([Buffer.from('damaged')]), { expectedSha256: sha256('something else') }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect((error as Error).message).toMatch(/fast\.glb have sha256 .* not the expected .* nothing was written/);
    expect(await readFile(target, 'utf8')).toBe('previous good file');
    expect(await readdir(dir)).toEqual(['fast.glb']);
  });

  it('a stream that fails midway leaves nothing at the target and no temp file', async () => {
    const dir = await tempDir();
    await expect(storeAt(dir).putStream('preview.mp4', webStream([Buffer.alloc(1000), Buffer.alloc(1000)], 1))).rejects.toThrow(/connection reset/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('an abort stops the write, cleans up and rethrows the caller\'s reason', async () => {
    const dir = await tempDir();
    const controller = new AbortController();
    const reason = new Error('cancelled by Temporal');
    const endless = new ReadableStream<Uint8Array>({
      pull: async (streamController) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        streamController.enqueue(new Uint8Array(1024));
      },
    });
    setTimeout(() => controller.abort(reason), 30);
    await expect(storeAt(dir).putStream('x.glb', endless, { signal: controller.signal })).rejects.toBe(reason);
    expect(await readdir(dir)).toEqual([]);
  });

  it('head re-hashes the file, so a file changed behind the store shows its real sha256', async () => {
    const dir = await tempDir();
    await storeAt(dir).putBytes('f', 'abc');
    await writeFile(path.join(dir, 'f'), 'abd');
    expect(await storeAt(dir).head('f')).toEqual({ key: 'f', bytes: 3, sha256: sha256('abd') });
    expect(await storeAt(dir).head('f', { sha256: false })).toEqual({ key: 'f', bytes: 3, sha256: undefined });
  });

  it('reads nothing through a symlink that leads out of the folder', async () => {
    const dir = await tempDir();
    const outside = await tempDir();
    await writeFile(path.join(outside, 'secret.txt'), 'not for the page');
    await symlink(path.join(outside, 'secret.txt'), path.join(dir, 'link.glb'));
    expect(await storeAt(dir).getBytes('link.glb')).toBeUndefined();
    expect(await storeAt(dir).getStream('link.glb')).toBeUndefined();
  });

  it('list never shows temp files of writes in progress', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, '.fast.glb.4242-abcdef012345.tmp'), 'half a glb');
    await storeAt(dir).putBytes('report.json', '{}');
    const keys: string[] = [];
    for await (const item of storeAt(dir).list('')) keys.push(item.key);
    expect(keys).toEqual(['report.json']);
  });
});
