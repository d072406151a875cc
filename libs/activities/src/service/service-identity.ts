// Which backend the service runs (relief on CPU, trellis2 on GPU) is part of every input hash, so GLBs
// made by the development backend are never reused as if the real model had made them.
import type { TrellisClient } from '@trellis/trellis-client';

const CACHE_MS = 60_000;
const cache = new WeakMap<TrellisClient, { backend: string; at: number }>();

export async function serviceBackend(client: TrellisClient, signal?: AbortSignal): Promise<string> {
  const cached = cache.get(client);
  if (cached && Date.now() - cached.at < CACHE_MS) return cached.backend;
  const health = await client.health({ signal });
  const backend = health.backend ?? 'unknown';
  cache.set(client, { backend, at: Date.now() });
  return backend;
}
