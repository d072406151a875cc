// The store for an out location: the only place that chooses between the implementations. The S3 code
// (the AWS SDK: ~20 MB of RSS once loaded) is imported on first use, so a worker writing to a local folder
// never loads it.
import type { Readable } from 'node:stream';
import { LocalFolderStore } from './local-store';
import { parseOutLocation } from './out-location';
import type { LocalCopy, ObjectInfo, OutputStore, PutOptions, PutResult, PutStreamOptions, StreamBody } from './output-store';
import { checkedKey } from './store-key';

const stores = new Map<string, OutputStore>();

/** The store of `location` (a folder path or s3://bucket/prefix); one instance per location per process. */
export function openOutputStore(location: string): OutputStore {
  const existing = stores.get(location);
  if (existing) return existing;
  const parsed = parseOutLocation(location);
  const store = parsed.kind === 'local' ? new LocalFolderStore(location, parsed.root) : new LazyS3Store(location, parsed.bucket, parsed.prefix);
  stores.set(location, store);
  return store;
}

/** S3Store, loaded when first used. */
class LazyS3Store implements OutputStore {
  readonly presigns = true;
  private loaded: Promise<OutputStore> | undefined;

  constructor(
    readonly location: string,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  private store(): Promise<OutputStore> {
    this.loaded ??= import('./s3-store').then(({ S3Store }) => new S3Store(this.location, this.bucket, this.prefix));
    return this.loaded;
  }

  describe(key: string): string {
    return `s3://${this.bucket}/${this.prefix === '' ? checkedKey(key) : `${this.prefix}/${checkedKey(key)}`}`;
  }

  async putBytes(key: string, data: string | Uint8Array, options?: PutOptions): Promise<PutResult> {
    return (await this.store()).putBytes(key, data, options);
  }

  async putStream(key: string, body: StreamBody, options?: PutStreamOptions): Promise<PutResult> {
    return (await this.store()).putStream(key, body, options);
  }

  async getStream(key: string): Promise<Readable | undefined> {
    return (await this.store()).getStream(key);
  }

  async getBytes(key: string): Promise<Buffer | undefined> {
    return (await this.store()).getBytes(key);
  }

  async getRange(key: string, start: number, end: number): Promise<Buffer | undefined> {
    return (await this.store()).getRange(key, start, end);
  }

  async head(key: string, options?: { sha256?: boolean }): Promise<ObjectInfo | undefined> {
    return (await this.store()).head(key, options);
  }

  async localCopy(key: string): Promise<LocalCopy | undefined> {
    return (await this.store()).localCopy(key);
  }

  async *list(folderKey: string): AsyncIterable<ObjectInfo> {
    yield* (await this.store()).list(folderKey);
  }

  async listFolders(folderKey: string): Promise<string[]> {
    return (await this.store()).listFolders(folderKey);
  }

  async presignedGetUrl(key: string, options?: { expiresInSeconds?: number; contentType?: string }): Promise<string | undefined> {
    return (await this.store()).presignedGetUrl(key, options);
  }

  async delete(key: string): Promise<void> {
    return (await this.store()).delete(key);
  }
}
