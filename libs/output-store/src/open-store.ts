// The store for an out location: the only place that chooses between the implementations.
import { LocalFolderStore } from './local-store';
import { parseOutLocation } from './out-location';
import type { OutputStore } from './output-store';
import { S3Store } from './s3-store';

const stores = new Map<string, OutputStore>();

/** The store of `location` (a folder path or s3://bucket/prefix); one instance per location per process. */
export function openOutputStore(location: string): OutputStore {
  const existing = stores.get(location);
  if (existing) return existing;
  const parsed = parseOutLocation(location);
  const store = parsed.kind === 'local' ? new LocalFolderStore(location, parsed.root) : new S3Store(location, parsed.bucket, parsed.prefix);
  stores.set(location, store);
  return store;
}
