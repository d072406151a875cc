// The out location a user gives (`--out`, the programmatic API, the dashboard): a local folder path, or
// `s3://bucket/prefix` for S3-compatible object storage. It is the only thing workflow inputs carry about
// storage: credentials and endpoints come from each process's own AWS configuration, never from here.
import path from 'node:path';
import { z } from 'zod';
import { checkedKey, StoreKeyError } from './store-key';

export type OutLocation = { kind: 'local'; root: string } | { kind: 's3'; bucket: string; prefix: string };

// S3's bucket naming rules (lowercase letters, digits, dots and hyphens; 3-63 characters).
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export class OutLocationError extends Error {
  override readonly name = 'OutLocationError';
}

export function isS3Location(location: string): boolean {
  return location.startsWith('s3://');
}

/**
 * Parses an out location. A local path is resolved against `cwd`; an s3:// location must name a bucket and
 * may name a prefix (`s3://bucket` or `s3://bucket/some/prefix`, a trailing slash is ignored).
 */
export function parseOutLocation(location: string, cwd: string = process.cwd()): OutLocation {
  if (location.trim() === '') throw new OutLocationError('the out location is empty: give a folder path or s3://bucket/prefix');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location) && !isS3Location(location)) {
    throw new OutLocationError(`out location ${JSON.stringify(location)}: only local folders and s3://bucket/prefix are supported`);
  }
  if (!isS3Location(location)) return { kind: 'local', root: path.resolve(cwd, location) };
  const rest = location.slice('s3://'.length).replace(/\/+$/, '');
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const prefix = slash === -1 ? '' : rest.slice(slash + 1);
  if (!BUCKET.test(bucket)) {
    throw new OutLocationError(`out location ${JSON.stringify(location)}: ${JSON.stringify(bucket)} is not a valid bucket name (3-63 lowercase letters, digits, "." or "-")`);
  }
  if (prefix !== '') {
    try {
      checkedKey(prefix);
    } catch (error) {
      if (error instanceof StoreKeyError) throw new OutLocationError(`out location ${JSON.stringify(location)}: the prefix ${error.message}`);
      throw error;
    }
  }
  return { kind: 's3', bucket, prefix };
}

/** A zod schema for an out location string, for the TS boundaries that accept one. */
export const OutLocationString = z
  .string()
  .min(1)
  .max(4096)
  .superRefine((value, context) => {
    try {
      parseOutLocation(value);
    } catch (error) {
      context.addIssue({ code: 'custom', message: (error as Error).message });
    }
  });
