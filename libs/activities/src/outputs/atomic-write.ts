// Outputs appear whole or not at all: bytes go to a temp file beside the target (same folder, so the
// rename is atomic on one file system), are fsynced, then renamed over the target. On any failure, or a
// checksum that does not match, the temp file is removed and the target is left as it was. A writer
// killed mid-write (kill -9) cannot remove its temp file; the next complete write of the same target does.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

export class ChecksumMismatchError extends Error {
  override readonly name = 'ChecksumMismatchError';

  constructor(
    readonly filePath: string,
    readonly expectedSha256: string,
    readonly actualSha256: string,
    readonly bytes: number,
  ) {
    super(`the ${bytes} bytes received for ${filePath} have sha256 ${actualSha256}, not the expected ${expectedSha256}; the download was damaged, so nothing was written — try again`);
  }
}

export async function writeFileAtomic(filePath: string, data: string | Uint8Array): Promise<void> {
  const tempPath = await prepareTempPath(filePath);
  try {
    const handle = await open(tempPath, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tempPath, filePath);
  } catch (error) {
    await rm(tempPath, { force: true });
    throw error;
  }
  await syncFolder(path.dirname(filePath));
  await removeAbandonedTemps(filePath);
}

export interface WriteStreamOptions {
  /** When given, the file is only put in place if the bytes hash to this (lowercase hex). */
  expectedSha256?: string;
  signal?: AbortSignal;
}

export async function writeStreamAtomic(
  filePath: string,
  body: ReadableStream<Uint8Array> | NodeJS.ReadableStream,
  options: WriteStreamOptions = {},
): Promise<{ bytes: number; sha256: string }> {
  const tempPath = await prepareTempPath(filePath);
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    const source = body instanceof ReadableStream ? Readable.fromWeb(body as WebReadableStream<Uint8Array>) : body;
    await pipeline(
      source,
      async function* countAndHash(chunks: AsyncIterable<Uint8Array | string>) {
        for await (const chunk of chunks) {
          const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          hash.update(buffer);
          bytes += buffer.byteLength;
          yield buffer;
        }
      },
      // `flush` fsyncs before close, so the rename below never exposes a file whose bytes are not on disk.
      createWriteStream(tempPath, { flags: 'wx', flush: true }),
      options.signal === undefined ? {} : { signal: options.signal },
    );
    const sha256 = hash.digest('hex');
    if (options.expectedSha256 !== undefined && options.expectedSha256.toLowerCase() !== sha256) {
      throw new ChecksumMismatchError(filePath, options.expectedSha256, sha256, bytes);
    }
    await rename(tempPath, filePath);
    await syncFolder(path.dirname(filePath));
    await removeAbandonedTemps(filePath);
    return { bytes, sha256 };
  } catch (error) {
    await rm(tempPath, { force: true });
    // A cancelled activity should see its own cancellation reason, not a generic AbortError.
    if (options.signal?.aborted) throw options.signal.reason ?? error;
    throw error;
  }
}

/** Size and sha256 of a file, or undefined when there is none. */
export async function sha256File(filePath: string): Promise<{ bytes: number; sha256: string } | undefined> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(filePath) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.byteLength;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return { bytes, sha256: hash.digest('hex') };
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
      .filter((name) => name.startsWith(prefix) && name.endsWith('.tmp'))
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
