// One interface for everything under <out>: a local folder or S3-compatible object storage. Callers name
// objects by key (see store-key.ts) and never learn which implementation they use. Every write is whole or
// nothing: an object either appears complete, with the bytes it was checked against, or not at all.
import type { Readable } from 'node:stream';

export interface PutResult {
  bytes: number;
  /** Lowercase hex. */
  sha256: string;
}

export interface ObjectInfo {
  key: string;
  bytes: number;
  /** The content's sha256 as the store vouches for it; undefined when the store cannot tell (not written by us). */
  sha256: string | undefined;
}

/**
 * `replace` (the default): the new bytes replace whatever was there, atomically.
 * `create`: final objects that must never change: written only if absent (S3 `If-None-Match: *`, a hard
 * link locally). When the object exists with the same sha256 the write is a success (a retry); with other
 * bytes it is an OutputConflictError.
 */
export type WriteMode = 'replace' | 'create';

export interface PutOptions {
  mode?: WriteMode;
  contentType?: string;
}

export interface PutStreamOptions extends PutOptions {
  /** When given, the object only appears if the bytes hash to this (lowercase hex). */
  expectedSha256?: string;
  signal?: AbortSignal;
}

export interface LocalCopy {
  path: string;
  release(): Promise<void>;
}

export type StreamBody = ReadableStream<Uint8Array> | NodeJS.ReadableStream | AsyncIterable<Uint8Array>;

export interface OutputStore {
  /** The out location as given (a folder path or s3://bucket/prefix). */
  readonly location: string;
  /** Whether `presignedGetUrl` gives URLs (object storage) or not (a local folder). */
  readonly presigns: boolean;
  /** Where a key lives, for messages: a file path or an s3:// URL. */
  describe(key: string): string;
  putBytes(key: string, data: string | Uint8Array, options?: PutOptions): Promise<PutResult>;
  putStream(key: string, body: StreamBody, options?: PutStreamOptions): Promise<PutResult>;
  /** The object's bytes as a stream, or undefined when there is none. */
  getStream(key: string): Promise<Readable | undefined>;
  /** A small object (manifest, record, report) whole, or undefined when there is none. */
  getBytes(key: string): Promise<Buffer | undefined>;
  /** Bytes [start, end) of an object (clamped to its size), or undefined when there is none. */
  getRange(key: string, start: number, end: number): Promise<Buffer | undefined>;
  /**
   * Size and sha256 of an object, or undefined when there is none. `{ sha256: false }` asks for the size
   * only (a local folder then does not re-hash the file; object storage answers the same either way).
   */
  head(key: string, options?: { sha256?: boolean }): Promise<ObjectInfo | undefined>;
  /**
   * The object as a local file, for tools that only read files (ffmpeg): the file itself for a local
   * folder, a private temp copy for object storage. `release` removes the copy; undefined when there is none.
   */
  localCopy(key: string): Promise<LocalCopy | undefined>;
  /** Every object under the folder `folderKey/` (all of the store for ''), sha256 not included. */
  list(folderKey: string): AsyncIterable<ObjectInfo>;
  /** The names of the folders directly under `folderKey/` (of the store's top for ''), sorted. */
  listFolders(folderKey: string): Promise<string[]>;
  /** A short-lived GET URL that needs no credential, or undefined for stores that cannot make one. */
  presignedGetUrl(key: string, options?: { expiresInSeconds?: number; contentType?: string }): Promise<string | undefined>;
  /** Removes the object if there is one. */
  delete(key: string): Promise<void>;
}

export class ChecksumMismatchError extends Error {
  override readonly name = 'ChecksumMismatchError';

  constructor(
    readonly where: string,
    readonly expectedSha256: string,
    readonly actualSha256: string,
    readonly bytes: number,
  ) {
    super(`the ${bytes} bytes received for ${where} have sha256 ${actualSha256}, not the expected ${expectedSha256}; the download was damaged, so nothing was written — try again`);
  }
}

export class OutputConflictError extends Error {
  override readonly name = 'OutputConflictError';

  constructor(
    readonly where: string,
    readonly existingSha256: string | undefined,
    readonly newSha256: string,
  ) {
    super(`${where} already exists with other bytes (sha256 ${existingSha256 ?? 'unknown'}, not ${newSha256}); final outputs are never overwritten — remove it first if it is really stale`);
  }
}
