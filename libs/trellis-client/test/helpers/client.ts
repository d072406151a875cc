import { TrellisClient, type TrellisClientOptions } from '../../src';
import { credentials } from './fixtures';

/**
 * A client for a test server: explicit credentials, nothing read from the real env or home directory, and
 * no in-client retries unless the test asks for them (so a test sees exactly one try of each request).
 */
export function clientFor(baseUrl: string, options: TrellisClientOptions = {}): TrellisClient {
  return new TrellisClient({ baseUrl, credentials, env: {}, secretsFile: '/nonexistent/secrets.json', retry: false, ...options });
}

/** The rejection of a promise (fails the test if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}
