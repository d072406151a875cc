// Raw binary responses (GLB, MP4) handed to the caller as a stream, never buffered here.
import { ServerTiming } from '@trellis/contracts';
import { badResponse, parseJsonOrUndefined } from './response-errors';

export interface BinaryResult {
  /** Read it to the end or cancel it: an unread body holds the connection open. */
  body: ReadableStream<Uint8Array>;
  contentType?: string;
  contentLength?: number;
  /** Header `X-Request-Id`. */
  requestId?: string;
  /** Header `X-Server-Timing` (JSON); absent on state previews. */
  serverTiming?: ServerTiming;
  /** Header `X-Glb-Sha256` on GLB results: compare it with the hash of what was read. */
  sha256?: string;
}

/**
 * The headers of a 2xx binary response → a BinaryResult whose stream reports errors through `mapError`.
 * A malformed X-Server-Timing throws `bad_response` (the body is then cancelled by the caller).
 */
/** What the stream reports back to the call that opened it (errors to translate, progress for the idle limit). */
export interface BodyHooks {
  mapError: (error: unknown) => unknown;
  /** Called with every chunk read. */
  onChunk?: () => void;
  /** Called once the body ended: read to the end, failed or cancelled. */
  onEnd?: () => void;
}

export function binaryResultFrom(response: Response, route: string, hooks: BodyHooks): BinaryResult {
  const header = (name: string) => response.headers.get(name) ?? undefined;
  const requestId = header('x-request-id');
  const serverTiming = parseServerTimingHeader(header('x-server-timing'), route, requestId);
  const length = Number(header('content-length') ?? Number.NaN);
  return {
    body: response.body ? watchedStream(response.body, hooks) : emptyStream(),
    contentType: header('content-type'),
    contentLength: Number.isSafeInteger(length) && length >= 0 ? length : undefined,
    requestId,
    serverTiming,
    sha256: header('x-glb-sha256'),
  };
}

function parseServerTimingHeader(value: string | undefined, route: string, requestId?: string): ServerTiming | undefined {
  if (value === undefined) return undefined;
  const parsed = ServerTiming.safeParse(parseJsonOrUndefined(value));
  if (!parsed.success) throw badResponse(route, 'header X-Server-Timing is not a server_timing JSON object', requestId);
  return parsed.data;
}

/**
 * A pass-through stream (no read-ahead: highWaterMark 0) whose errors are translated, so a connection reset
 * mid-download surfaces as a retryable `connection_error`, a stall as a retryable `timeout`, and a caller
 * abort still as its AbortError. Every chunk is reported (`onChunk`), which restarts the idle limit.
 */
function watchedStream(source: ReadableStream<Uint8Array>, hooks: BodyHooks): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            hooks.onEnd?.();
            controller.close();
          } else {
            hooks.onChunk?.();
            controller.enqueue(value);
          }
        } catch (error) {
          hooks.onEnd?.();
          controller.error(hooks.mapError(error));
        }
      },
      cancel: (reason) => {
        hooks.onEnd?.();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
}
