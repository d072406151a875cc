// Turning what the service (or Modal's proxy in front of it) answered into a TrellisServiceError.
import { ServiceErrorBody } from '@trellis/contracts';
import type { z } from 'zod';
import { isRetryable, TrellisServiceError } from './errors';
import { parseRetryAfter } from './retry';

const MAX_PLAIN_TEXT_IN_MESSAGE = 200;

/** The hint for a 401/403: where credentials come from (never the credentials themselves). */
const unauthorizedHint =
  'check the Modal-Key / Modal-Secret credentials (options, TRELLIS2_MODAL_KEY + TRELLIS2_MODAL_SECRET, or ~/.trellis2_modal_secrets.json); not retried';

const hints: Record<string, string> = {
  unauthorized: unauthorizedHint,
  forbidden: unauthorizedHint,
  idempotency_key_reused:
    'this Idempotency-Key was already used for a job with a different body: the caller derives keys from too little of the work (a bug); not retried',
};

/** A parsed `{"error": {...}}` body (real status, or the seed's HTTP 200) → the error it stands for. */
export function errorFromServiceBody(
  body: ServiceErrorBody,
  context: { route: string; status?: number; requestIdHeader?: string | null; retryAfterMs?: number },
): TrellisServiceError {
  const { code, message, retryable } = body.error;
  const statusText = context.status === undefined ? '' : `${context.status} `;
  const hint = hints[code] ?? (context.status === 401 || context.status === 403 ? unauthorizedHint : undefined);
  // An auth failure is never worth retrying, whatever the body says: the same credentials fail again.
  const authFailure = code === 'unauthorized' || code === 'forbidden' || context.status === 401 || context.status === 403;
  return new TrellisServiceError(`${context.route}: ${statusText}${code}: ${message}${hint ? ` (${hint})` : ''}`, {
    code,
    route: context.route,
    status: context.status,
    retryable: authFailure ? false : isRetryable({ code, status: context.status, bodyRetryable: retryable }),
    requestId: body.request_id ?? context.requestIdHeader ?? undefined,
    retryAfterMs: context.retryAfterMs,
  });
}

/** A parsed JSON value that is the service's error shape, or undefined. */
export function asServiceErrorBody(value: unknown): ServiceErrorBody | undefined {
  const parsed = ServiceErrorBody.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** A non-2xx response → error. Reads the body (error bodies are small); never throws itself. */
export async function errorFromResponse(response: Response, route: string): Promise<TrellisServiceError> {
  const requestIdHeader = response.headers.get('x-request-id');
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
  const text = await response.text().catch(() => '');
  const serviceBody = asServiceErrorBody(parseJsonOrUndefined(text));
  if (serviceBody) return errorFromServiceBody(serviceBody, { route, status: response.status, requestIdHeader, retryAfterMs });

  // Not the service's shape: Modal's proxy (plain-text 401), a gateway page, a crashed server.
  const code = response.status === 401 ? 'unauthorized' : response.status === 403 ? 'forbidden' : `http_${response.status}`;
  const snippet = text.trim().slice(0, MAX_PLAIN_TEXT_IN_MESSAGE) || response.statusText || 'no body';
  const hint = hints[code];
  return new TrellisServiceError(`${route}: ${response.status} ${code}: ${snippet}${hint ? ` (${hint})` : ''}`, {
    code,
    route,
    status: response.status,
    requestId: requestIdHeader ?? undefined,
    retryAfterMs,
  });
}

/** A 2xx body that does not match the contract: a client/service version mismatch, never worth retrying. */
export function badResponse(route: string, problem: string, requestId?: string | null): TrellisServiceError {
  return new TrellisServiceError(`${route}: the response does not match the service contract: ${problem}`, {
    code: 'bad_response',
    route,
    retryable: false,
    requestId: requestId ?? undefined,
  });
}

/** zod issues as one line: `state_id: Invalid string; video_bytes: Invalid input` (paths, never values). */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(body)'}: ${issue.message}`)
    .join('; ');
}

export function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
