// The out location as a local folder (today's behaviour): key `a/b/c` is the file `<root>/a/b/c`. Objects
// appear whole or not at all: bytes go to a temp file beside the target (same folder, so the rename is
// atomic on one file system), are fsynced, then renamed over the target (or hard-linked, for `create`,
// which fails if the target exists). On any failure, or a checksum that does not match, the temp file is
// removed and the target is left as it was. A writer killed mid-write (kill -9) cannot remove its temp
// file; the next complete write of the same target does, and `list` never shows temp files.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, readdir, readFile, realpath, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkedStream, sha256Hex } from './hashing';
import { OutputConflictError, type LocalCopy, type ObjectInfo, type OutputStore, type PutOptions, type PutResult, type PutStreamOptions, type StreamBody } from './output-store';
import { checkedKey } from './store-key';

const TEMP_NAME = /^\..+\.\d+-[0-9a-f]{12}\.tmp$/;

export class LocalFolderStore implements OutputStore {
  readonly presigns = false;

  constructor(
    readonly location: string,
    private readonly root: string,
  ) {}

  describe(key: string): string {
    return this.pathOf(key);
  }

  async putBytes(key: string, data: string | Uint8Array, options: PutOptions = {}): Promise<PutResult> {
    const filePath = this.pathOf(key);
    const result = { bytes: typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength, sha256: sha256Hex(data) };
    const tempPath = await prepareTempPath(filePath);
    try {
      const handle = await open(tempPath, 'wx');
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await this.publish(tempPath, filePath, result.sha256, options);
    } catch (error) {
      await rm(tempPath, { force: true });
      throw error;
    }
    return result;
  }

  async putStream(key: string, body: StreamBody, options: PutStreamOptions = {}): Promise<PutResult> {
    const filePath = this.pathOf(key);
    const tempPath = await prepareTempPath(filePath);
    try {
      const checked = checkedStream(body, filePath, options.expectedSha256);
      // `flush` fsyncs before close, so the rename below never exposes a file whose bytes are not on disk.
      await pipeline(checked.stream, createWriteStream(tempPath, { flags: 'wx', flush: true }), options.signal === undefined ? {} : { signal: options.signal });
      const result = checked.result();
      await this.publish(tempPath, filePath, result.sha256, options);
      return result;
    } catch (error) {
      await rm(tempPath, { force: true });
      // A cancelled activity should see its own cancellation reason, not a generic AbortError.
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      throw error;
    }
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const filePath = await this.readablePath(key);
    const handle = filePath === undefined ? undefined : await open(filePath, 'r').catch(undefinedWhenMissing);
    return handle?.createReadStream();
  }

  async getBytes(key: string): Promise<Buffer | undefined> {
    const filePath = await this.readablePath(key);
    return filePath === undefined ? undefined : readFile(filePath).catch(undefinedWhenMissing);
  }

  /**
   * The file of a key for reading, resolved through symlinks: a link that leads out of the out folder
   * reads as nothing, so no name in it can expose another file of the machine.
   */
  private async readablePath(key: string): Promise<string | undefined> {
    const filePath = this.pathOf(key);
    const [realRoot, real] = await Promise.all([realpath(this.root).catch(() => undefined), realpath(filePath).catch(() => undefined)]);
    if (realRoot === undefined || real === undefined || !real.startsWith(realRoot + path.sep)) return undefined;
    return real;
  }

  async getRange(key: string, start: number, end: number): Promise<Buffer | undefined> {
    const handle = await open(this.pathOf(key), 'r').catch(undefinedWhenMissing);
    if (!handle) return undefined;
    try {
      const size = (await handle.stat()).size;
      const from = Math.min(start, size);
      const buffer = Buffer.alloc(Math.max(0, Math.min(end, size) - from));
      if (buffer.length > 0) await handle.read(buffer, 0, buffer.length, from);
      return buffer;
    } finally {
      await handle.close();
    }
  }

  async head(key: string, options: { sha256?: boolean } = {}): Promise<ObjectInfo | undefined> {
    const filePath = this.pathOf(key);
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      const info = await stat(filePath);
      if (!info.isFile()) return undefined;
      if (options.sha256 === false) return { key, bytes: info.size, sha256: undefined };
      for await (const chunk of createReadStream(filePath) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.byteLength;
      }
    } catch (error) {
      return undefinedWhenMissing(error);
    }
    return { key, bytes, sha256: hash.digest('hex') };
  }

  async localCopy(key: string): Promise<LocalCopy | undefined> {
    const filePath = this.pathOf(key);
    const info = await stat(filePath).catch(undefinedWhenMissing);
    return info?.isFile() ? { path: filePath, release: async () => {} } : undefined;
  }

  async *list(folderKey: string): AsyncIterable<ObjectInfo> {
    const start = folderKey === '' ? this.root : this.pathOf(folderKey);
    const pending = [start];
    while (pending.length > 0) {
      const folder = pending.pop() as string;
      const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
      for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        const entryPath = path.join(folder, entry.name);
        if (entry.isDirectory()) pending.push(entryPath);
        else if (entry.isFile() && !TEMP_NAME.test(entry.name)) {
          const info = await stat(entryPath).catch(() => undefined);
          if (info) yield { key: path.relative(this.root, entryPath).split(path.sep).join('/'), bytes: info.size, sha256: undefined };
        }
      }
    }
  }

  async listFolders(folderKey: string): Promise<string[]> {
    const folder = folderKey === '' ? this.root : this.pathOf(folderKey);
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
    return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  }

  async presignedGetUrl(): Promise<string | undefined> {
    return undefined;
  }

  /** Removes the file and the folders it leaves empty (an object store has no empty folders either). */
  async delete(key: string): Promise<void> {
    const filePath = this.pathOf(key);
    await rm(filePath, { force: true });
    for (let folder = path.dirname(filePath); folder !== this.root && folder.startsWith(this.root); folder = path.dirname(folder)) {
      const removed = await rmdir(folder).then(() => true, () => false);
      if (!removed) break;
    }
  }

  private pathOf(key: string): string {
    // checkedKey rules out `..` and absolute keys, so the join stays under root.
    return path.join(this.root, ...checkedKey(key).split('/'));
  }

  private async publish(tempPath: string, filePath: string, sha256: string, options: PutOptions): Promise<void> {
    if (options.mode === 'create') {
      try {
        await link(tempPath, filePath);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const existing = await this.head(path.relative(this.root, filePath).split(path.sep).join('/'));
        if (existing?.sha256 !== sha256) throw new OutputConflictError(filePath, existing?.sha256, sha256);
      }
      await rm(tempPath, { force: true });
    } else {
      await rename(tempPath, filePath);
    }
    await syncFolder(path.dirname(filePath));
    await removeAbandonedTemps(filePath);
  }
}

function undefinedWhenMissing(error: unknown): undefined {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
  throw error;
}

/** A unique name per write (pid + random) so concurrent or retried writers never share a temp file. */
async function prepareTempPath(filePath: string): Promise<string> {
  const folder = path.dirname(filePath);
  await mkdir(folder, { recursive: true });
  return path.join(folder, `.${path.basename(filePath)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Temp files of the same target left by writers that died: the target is now complete, so any other
 * partial write of it is obsolete (a writer still going would only fail its rename, and retry).
 */
async function removeAbandonedTemps(filePath: string): Promise<void> {
  const folder = path.dirname(filePath);
  const prefix = `.${path.basename(filePath)}.`;
  const names = await readdir(folder).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((name) => name.startsWith(prefix) && TEMP_NAME.test(name))
      .map((name) => rm(path.join(folder, name), { force: true })),
  );
}

/** Makes the rename itself durable; some file systems (and Windows) cannot fsync a folder, which is fine. */
async function syncFolder(folder: string): Promise<void> {
  try {
    const handle = await open(folder, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // best effort
  }
}
