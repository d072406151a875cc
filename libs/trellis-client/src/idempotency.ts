// Idempotency keys for job submits: derived from what identifies the work, so every try of the same work
// sends the same key and the service hands back the job it already started instead of starting another.
import { createHash } from 'node:crypto';
import { TrellisServiceError } from './errors';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

const KEY_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * A key from the parts that identify one piece of work (e.g. workflow id, activity id, input hash): the
 * sha256 of their JSON array, 64 lowercase hex digits. JSON keeps ["a","bc"] and ["ab","c"] apart.
 */
export function idempotencyKeyOf(parts: readonly string[]): string {
  if (parts.length === 0) throw new RangeError('an idempotency key needs at least one part');
  return createHash('sha256').update(JSON.stringify(['trellis-job/v1', ...parts])).digest('hex');
}

/** A well-formed key, or a local `validation_error` (nothing is sent). */
export function requireIdempotencyKey(key: string, route: string): string {
  if (KEY_PATTERN.test(key)) return key;
  throw new TrellisServiceError(`${route}: invalid request (not sent): Idempotency-Key must be 1-64 of [A-Za-z0-9_-]`, {
    code: 'validation_error',
    route,
    retryable: false,
  });
}
