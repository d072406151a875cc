// The one error type of the client, and the rule that decides whether a failure is worth retrying.
import { serviceErrorTable } from '@trellis/contracts';

/** Codes the client itself produces (never sent by the service); `forbidden` is a non-JSON 403 (a proxy's). */
export type ClientErrorCode = 'bad_response' | 'configuration_error' | 'connection_error' | 'timeout' | 'forbidden';

/** Retry decision for the codes the client itself produces; the service's codes come with theirs. */
const clientRetryable: Record<ClientErrorCode, boolean> = {
  bad_response: false,
  // A method the configured URL layout cannot serve (jobs on a subdomain URL): retrying cannot fix it.
  configuration_error: false,
  connection_error: true,
  timeout: true,
  forbidden: false,
};

/** Retry decision per known code (docs/service-api.md): the service's table, then the client's own codes. */
const retryableByCode: Record<string, boolean> = {
  ...Object.fromEntries(Object.entries(serviceErrorTable).map(([code, { retryable }]) => [code, retryable])),
  ...clientRetryable,
};

export interface RetryableInputs {
  code: string;
  status?: number;
  /** The `retryable` flag of the service's error body, when it sent one. */
  bodyRetryable?: boolean;
}

/** The service's own flag wins; then the code table; then the HTTP status (408, 425, 429, 5xx retry). */
export function isRetryable({ code, status, bodyRetryable }: RetryableInputs): boolean {
  if (bodyRetryable !== undefined) return bodyRetryable;
  const known = retryableByCode[code];
  if (known !== undefined) return known;
  if (status === undefined) return false;
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

export interface TrellisServiceErrorFields {
  code: string;
  /** Which call failed, e.g. `POST /generate` or `GET /jobs/{job_id}` (a template: ids stay out of it). */
  route: string;
  status?: number;
  retryable?: boolean;
  requestId?: string;
  jobId?: string;
  /** From a `Retry-After` header: how long the server asked us to wait. */
  retryAfterMs?: number;
  cause?: unknown;
}

/**
 * Anything that went wrong talking to the service, except the caller's own abort (rethrown as is, so
 * Temporal cancellation is not mistaken for a failure). `retryable` is what a retry policy should read.
 */
export class TrellisServiceError extends Error {
  override readonly name = 'TrellisServiceError';
  readonly code: string;
  readonly route: string;
  readonly status?: number;
  readonly retryable: boolean;
  readonly requestId?: string;
  readonly jobId?: string;
  readonly retryAfterMs?: number;

  constructor(message: string, fields: TrellisServiceErrorFields) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.code = fields.code;
    this.route = fields.route;
    this.status = fields.status;
    this.requestId = fields.requestId;
    this.jobId = fields.jobId;
    this.retryAfterMs = fields.retryAfterMs;
    this.retryable = fields.retryable ?? isRetryable({ code: fields.code, status: fields.status });
  }
}

export function isTrellisServiceError(error: unknown): error is TrellisServiceError {
  return error instanceof TrellisServiceError;
}
