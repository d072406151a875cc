// Downloads an image URL with a byte cap: the body is streamed and the download stops as soon as it passes
// the cap, so a huge file is refused without being read (or held in memory) whole.
import { ImageError } from './image-error';

export interface FetchLimits {
  maxBytes: number;
  timeoutMs: number;
  /** The caller's cancellation (Temporal's): an abort from it is passed on as is, never turned into an ImageError. */
  signal?: AbortSignal;
}

const RETRYABLE_STATUS = new Set([408, 429]);

export async function fetchImageBytes(url: string, { maxBytes, timeoutMs, signal }: FetchLimits): Promise<Buffer> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
  try {
    const response = await fetch(url, { signal: combined, redirect: 'follow' });
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      const retryable = response.status >= 500 || RETRYABLE_STATUS.has(response.status);
      const advice = retryable ? 'the server may recover; it will be tried again' : 'check the URL in the catalog';
      throw new ImageError('image_fetch_failed', `image ${url} could not be downloaded: HTTP ${response.status} ${response.statusText}; ${advice}`, retryable);
    }
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (declared > maxBytes) {
      await response.body?.cancel().catch(() => undefined);
      throw tooLarge(url, maxBytes, `${declared} bytes`);
    }
    return await readCapped(url, response, maxBytes);
  } catch (error) {
    if (signal?.aborted) throw signal.reason ?? error;
    if (error instanceof ImageError) throw error;
    const reason = timeout.aborted ? `no complete answer within ${timeoutMs} ms` : describeNetworkError(error);
    throw new ImageError('image_fetch_failed', `image ${url} could not be downloaded (${reason}); it will be tried again — check the URL and the network if this repeats`, true, { cause: error });
  }
}

async function readCapped(url: string, response: Response, maxBytes: number): Promise<Buffer> {
  if (response.body === null) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(url, maxBytes, `more than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}

function tooLarge(url: string, maxBytes: number, size: string): ImageError {
  return new ImageError('image_too_large', `image ${url} is ${size}, over the limit of ${maxBytes} bytes (${formatMiB(maxBytes)}); photos up to this size are scaled down automatically; use a smaller file`);
}

function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
}

export function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
}
