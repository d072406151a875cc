import { describe, expect, it } from 'vitest';
import { isRetryable, TrellisServiceError } from '../src/errors';
import { errorFromResponse, errorFromServiceBody } from '../src/response-errors';
import { errorBody, requestId } from './helpers/fixtures';

describe('isRetryable', () => {
  it.each([
    ['cuda_oom', true],
    ['not_ready', true],
    ['generation_error', true],
    ['rendering_error', true],
    ['extraction_error', true],
    ['internal_error', true],
    ['job_not_finished', true],
    ['connection_error', true],
    ['timeout', true],
    ['validation_error', false],
    ['unauthorized', false],
    ['payload_too_large', false],
    ['state_not_found', false],
    ['job_not_found', false],
    ['bad_response', false],
    ['configuration_error', false],
    ['poison_input', false],
    ['method_not_allowed', false],
  ])('code %s → %s (whatever the status)', (code, retryable) => {
    expect(isRetryable({ code })).toBe(retryable);
    expect(isRetryable({ code, status: retryable ? 400 : 503 })).toBe(retryable);
  });

  it("lets the service's own flag win over the code", () => {
    expect(isRetryable({ code: 'cuda_oom', bodyRetryable: false })).toBe(false);
    expect(isRetryable({ code: 'validation_error', bodyRetryable: true })).toBe(true);
  });

  it.each([
    [408, true],
    [425, true],
    [429, true],
    [500, true],
    [502, true],
    [504, true],
    [400, false],
    [403, false],
    [404, false],
    [405, false],
  ])('an unknown code with status %i → %s', (status, retryable) => {
    expect(isRetryable({ code: `http_${status}`, status })).toBe(retryable);
    expect(isRetryable({ code: 'something_new', status })).toBe(retryable);
  });

  it('an unknown code without a status is not retried', () => {
    expect(isRetryable({ code: 'something_new' })).toBe(false);
  });
});

describe('errorFromResponse', () => {
  const route = 'POST /generate';
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

  it('reads the service error body with a real status', async () => {
    const error = await errorFromResponse(json(503, errorBody('cuda_oom', 'GPU out of memory', true)), route);
    expect(error).toBeInstanceOf(TrellisServiceError);
    expect(error).toMatchObject({ status: 503, code: 'cuda_oom', retryable: true, requestId, route });
    expect(error.message).toBe('POST /generate: 503 cuda_oom: GPU out of memory');
  });

  it('falls back to the code table when the body has no retryable flag (seed bodies)', async () => {
    const error = await errorFromResponse(json(500, errorBody('extraction_error', 'failed')), route);
    expect(error.retryable).toBe(true);
    const invalid = await errorFromResponse(json(400, errorBody('validation_error', 'image: not an image')), route);
    expect(invalid.retryable).toBe(false);
  });

  it("reads Modal's plain-text 401 as unauthorized, with a hint but no secret", async () => {
    const response = new Response('modal-http: missing credentials for proxy authorization', { status: 401 });
    const error = await errorFromResponse(response, route);
    expect(error).toMatchObject({ status: 401, code: 'unauthorized', retryable: false });
    expect(error.message).toContain('modal-http: missing credentials for proxy authorization');
    expect(error.message).toContain('TRELLIS2_MODAL_KEY');
  });

  it.each([
    [502, 'http_502', true],
    [429, 'http_429', true],
    [403, 'forbidden', false],
  ])('reads a non-JSON %i as %s (retryable %s)', async (status, code, retryable) => {
    const error = await errorFromResponse(new Response('<html>bad gateway</html>', { status }), route);
    expect(error).toMatchObject({ status, code, retryable });
  });

  it.each([401, 403])('an auth failure %i names where credentials come from and is never retried, even if the body says so', async (status) => {
    const body = JSON.stringify(errorBody('unauthorized', 'credentials were revoked', true));
    const error = await errorFromResponse(new Response(body, { status, headers: { 'content-type': 'application/json' } }), route);
    expect(error).toMatchObject({ status, retryable: false });
    for (const source of ['TRELLIS2_MODAL_KEY', 'TRELLIS2_MODAL_SECRET', '~/.trellis2_modal_secrets.json']) expect(error.message).toContain(source);
  });

  it('reads Retry-After (seconds or an HTTP date) into retryAfterMs', async () => {
    const inSeconds = await errorFromResponse(new Response('busy', { status: 503, headers: { 'retry-after': '2' } }), route);
    expect(inSeconds).toMatchObject({ code: 'http_503', retryable: true, retryAfterMs: 2000 });
    const date = new Date(Date.now() + 60_000).toUTCString();
    const asDate = await errorFromResponse(new Response('busy', { status: 429, headers: { 'retry-after': date } }), route);
    expect(asDate.retryAfterMs).toBeGreaterThan(50_000);
    expect(asDate.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('idempotency_key_reused is a permanent error that says the key derivation is at fault', async () => {
    const body = JSON.stringify(errorBody('idempotency_key_reused', 'key used with another body'));
    const error = await errorFromResponse(new Response(body, { status: 422 }), route);
    expect(error).toMatchObject({ code: 'idempotency_key_reused', retryable: false, status: 422 });
    expect(error.message).toContain('different body');
  });

  it('takes the request id from the header when the body has none', async () => {
    const response = new Response('oops', { status: 500, headers: { 'x-request-id': 'req_ffffffffffffffff' } });
    expect((await errorFromResponse(response, route)).requestId).toBe('req_ffffffffffffffff');
  });
});

describe('errorFromServiceBody: the seed HTTP 200 error', () => {
  it('classifies by code since the status says nothing', () => {
    const error = errorFromServiceBody(errorBody('cuda_oom', 'out of memory'), { route: 'POST /generate', status: 200 });
    expect(error).toMatchObject({ status: 200, code: 'cuda_oom', retryable: true });
    const invalid = errorFromServiceBody(errorBody('validation_error', 'bad seed'), { route: 'POST /generate', status: 200 });
    expect(invalid.retryable).toBe(false);
  });
});
