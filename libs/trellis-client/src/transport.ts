// Sends one request: auth headers, time limit, same-origin redirects, and errors mapped to TrellisServiceError.
import type { z } from 'zod';
import { binaryResultFrom, type BinaryResult } from './binary-result';
import { CallDeadline } from './call-deadline';
import type { ModalCredentials } from './credentials';
import { withRequestRetries, type RequestRetryPolicy } from './retry';
import {
  asServiceErrorBody,
  badResponse,
  describeIssues,
  errorFromResponse,
  errorFromServiceBody,
  parseJsonOrUndefined,
} from './response-errors';

export interface ServiceRequest {
  method: 'GET' | 'POST';
  /** For messages and `error.route`: `POST /generate`, `GET /jobs/{job_id}`. */
  route: string;
  url: string;
  /** JSON body (already validated). */
  body?: unknown;
  /** Health is the only route without auth. */
  authenticated: boolean;
  /** Limit of each try until the response headers (and, without `idleTimeoutMs`, the whole body). */
  timeoutMs: number;
  /**
   * A shorter limit for the first try, doubled on each retry up to `timeoutMs`: a hung request is cut in
   * seconds, while a slow answer (a cold front end) still gets the full limit on a later try.
   */
  firstTryTimeoutMs?: number;
  /** After the headers, the body is aborted when no byte arrives for this long (result downloads). */
  idleTimeoutMs?: number;
  /** Extra request headers, e.g. `Idempotency-Key`. */
  headers?: Record<string, string>;
  /** Set only for requests that cannot start work twice; absent: one try. */
  retry?: RequestRetryPolicy;
  signal?: AbortSignal;
}

const MAX_REDIRECTS = 20;

/** The time limit of try number `attempt` (1-based). */
export function tryLimitMs(request: Pick<ServiceRequest, 'timeoutMs' | 'firstTryTimeoutMs'>, attempt: number): number {
  if (request.firstTryTimeoutMs === undefined) return request.timeoutMs;
  return Math.min(request.timeoutMs, request.firstTryTimeoutMs * 2 ** (attempt - 1));
}
const USER_AGENT = 'trellis-client/0.1.0';

export class ServiceTransport {
  constructor(private readonly credentials: ModalCredentials | 'none') {}

  /** A JSON response parsed with `schema`; a seed-style HTTP 200 `{"error": ...}` body throws that error. */
  json<Schema extends z.ZodType>(request: ServiceRequest, schema: Schema): Promise<z.output<Schema>> {
    return withRequestRetries((attempt) => this.jsonOnce(request, schema, tryLimitMs(request, attempt)), request.retry, request.signal);
  }

  /**
   * A raw body of media type `accept`, streamed. The time limit covers the wait for the response headers;
   * then `idleTimeoutMs` (if set) and the caller's signal cover the stream. Retries (if set) cover only
   * the wait for the headers: a body that fails mid-stream is the caller's to open again.
   */
  binary(request: ServiceRequest, accept: string): Promise<BinaryResult> {
    return withRequestRetries((attempt) => this.binaryOnce(request, accept, tryLimitMs(request, attempt)), request.retry, request.signal);
  }

  private async jsonOnce<Schema extends z.ZodType>(request: ServiceRequest, schema: Schema, limitMs: number): Promise<z.output<Schema>> {
    const deadline = new CallDeadline(limitMs, request.signal);
    try {
      const response = await this.send(request, 'application/json', deadline);
      const json = parseJsonOrUndefined(await readText(response, request, deadline));
      const requestIdHeader = response.headers.get('x-request-id');
      const parsed = schema.safeParse(json);
      if (parsed.success) return parsed.data;
      const errorBody = asServiceErrorBody(json);
      if (errorBody) throw errorFromServiceBody(errorBody, { route: request.route, status: response.status, requestIdHeader });
      throw badResponse(request.route, json === undefined ? 'the body is not JSON' : describeIssues(parsed.error), requestIdHeader);
    } catch (error) {
      throw deadline.interpret(error, request.route, request.url);
    } finally {
      deadline.clear();
      deadline.stopIdle();
    }
  }

  private async binaryOnce(request: ServiceRequest, accept: string, limitMs: number): Promise<BinaryResult> {
    const deadline = new CallDeadline(limitMs, request.signal);
    try {
      const response = await this.send(request, accept, deadline);
      const contentType = response.headers.get('content-type') ?? '';
      if (!contentType.startsWith(accept)) throw await unexpectedBinaryBody(response, request.route, accept);
      let result: BinaryResult;
      try {
        result = binaryResultFrom(response, request.route, {
          mapError: (error) => deadline.interpret(error, request.route, request.url),
          onChunk: () => deadline.touch(),
          onEnd: () => deadline.stopIdle(),
        });
      } catch (error) {
        await response.body?.cancel();
        throw error;
      }
      deadline.clear();
      if (request.idleTimeoutMs !== undefined) deadline.watchIdle(request.idleTimeoutMs);
      return result;
    } catch (error) {
      deadline.clear();
      deadline.stopIdle();
      throw deadline.interpret(error, request.route, request.url);
    }
  }

  /** The final 2xx response; a non-2xx one throws its error. */
  private async send(request: ServiceRequest, accept: string, deadline: CallDeadline): Promise<Response> {
    const headers: Record<string, string> = { ...request.headers, accept, 'user-agent': USER_AGENT };
    if (request.authenticated && this.credentials !== 'none') {
      headers['modal-key'] = this.credentials.modalKey;
      headers['modal-secret'] = this.credentials.modalSecret;
    }
    let method: string = request.method;
    let body = request.body === undefined ? undefined : JSON.stringify(request.body);
    let url = request.url;
    for (let hop = 0; ; hop++) {
      const response = await fetch(url, {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        body,
        signal: deadline.signal,
        // Followed below, so Modal credentials only ever go back to the origin they were meant for.
        redirect: 'manual',
      });
      const location = response.headers.get('location');
      if (!isRedirect(response.status) || location === null) {
        if (!response.ok) throw await errorFromResponse(response, request.route);
        return response;
      }
      await response.body?.cancel();
      const next = new URL(location, url);
      if (next.origin !== new URL(request.url).origin) {
        throw badResponse(request.route, `redirected to another origin (${next.origin}); not following it with Modal credentials`);
      }
      if (hop + 1 >= MAX_REDIRECTS) throw badResponse(request.route, `more than ${MAX_REDIRECTS} redirects`);
      // Modal answers a request running past 150 s with 303 to the same URL plus a call id; GETting it waits
      // for the result without starting the work again. 303 (and 301/302 after a POST) becomes a bodiless GET.
      if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
      }
      url = next.href;
    }
  }
}

/** The body as text; with an idle limit, the total limit ends at the headers and each chunk restarts the idle one. */
async function readText(response: Response, request: ServiceRequest, deadline: CallDeadline): Promise<string> {
  if (request.idleTimeoutMs === undefined || !response.body) return response.text();
  deadline.clear();
  deadline.watchIdle(request.idleTimeoutMs);
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    deadline.touch();
    text += decoder.decode(chunk, { stream: true });
  }
  return text + decoder.decode();
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** A 2xx answer of the wrong media type: a seed-style 200 error body, or a server that ignored `Accept`. */
async function unexpectedBinaryBody(response: Response, route: string, accept: string): Promise<Error> {
  const contentType = response.headers.get('content-type') ?? '';
  const requestIdHeader = response.headers.get('x-request-id');
  if (contentType.includes('json')) {
    const errorBody = asServiceErrorBody(parseJsonOrUndefined(await response.text()));
    if (errorBody) return errorFromServiceBody(errorBody, { route, status: response.status, requestIdHeader });
  } else {
    await response.body?.cancel();
  }
  return badResponse(route, `expected ${accept}, got ${contentType || 'no Content-Type'}`, requestIdHeader);
}
