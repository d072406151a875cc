// The client against small real HTTP servers: redirects, error statuses, bad bodies, time limits, aborts.
import { describe, expect, it } from 'vitest';
import { TrellisClient, TrellisServiceError } from '../src';
import { clientFor, rejectionOf } from './helpers/client';
import { credentials, errorBody, jobAccepted, requestId } from './helpers/fixtures';
import { sendJson, serveForEachTest, type Handler } from './helpers/http-server';

const serve = serveForEachTest();

const image = 'aW1hZ2U=';

describe("Modal's 303 redirect of a request past 150 s", () => {
  it('follows POST → 303 → GET with the auth headers kept and the body dropped', async () => {
    const server = await serve((request, response) => {
      if (request.method === 'POST') {
        response.writeHead(303, { location: '/jobs/generate?__modal_function_call_id=fc-01ABC' });
        response.end();
      } else {
        sendJson(response, 200, jobAccepted);
      }
    });
    const result = await clientFor(server.url).submitGenerate({ image });

    expect(result.job_id).toBe(jobAccepted.job_id);
    const [post, get] = server.requests;
    expect(server.requests).toHaveLength(2);
    expect(post).toMatchObject({ method: 'POST', url: '/jobs/generate' });
    // The body the service sees has every default filled in (the seed's values).
    expect(JSON.parse(post!.body)).toMatchObject({ image, seed: 42, pipeline_type: '1024_cascade', state_mode: 'inline', include_video: true });
    expect(get).toMatchObject({ method: 'GET', url: '/jobs/generate?__modal_function_call_id=fc-01ABC', body: '' });
    expect(get!.headers['content-type']).toBeUndefined();
    for (const request of [post!, get!]) {
      expect(request.headers['modal-key']).toBe(credentials.modalKey);
      expect(request.headers['modal-secret']).toBe(credentials.modalSecret);
    }
  });

  it('refuses a redirect to another origin rather than carry credentials there', async () => {
    const elsewhere = await serve((_, response) => sendJson(response, 200, jobAccepted));
    const server = await serve((_, response) => {
      response.writeHead(303, { location: `${elsewhere.url}/jobs/generate` });
      response.end();
    });
    const error = await rejectionOf(clientFor(server.url).submitGenerate({ image }));
    expect(error).toMatchObject({ code: 'bad_response', retryable: false });
    expect(elsewhere.requests).toHaveLength(0);
  });
});

describe('error responses', () => {
  it('503 cuda_oom is retryable', async () => {
    const server = await serve((_, response) => sendJson(response, 503, errorBody('cuda_oom', 'the GPU ran out of memory', true)));
    const error = await rejectionOf(clientFor(server.url).submitGenerate({ image }));
    expect(error).toBeInstanceOf(TrellisServiceError);
    expect(error).toMatchObject({ status: 503, code: 'cuda_oom', retryable: true, requestId, route: 'POST /jobs/generate' });
  });

  it("Modal's plain-text 401 is unauthorized and not retryable", async () => {
    const server = await serve((_, response) => {
      response.writeHead(401, { 'content-type': 'text/plain' });
      response.end('modal-http: missing credentials for proxy authorization');
    });
    const error = await rejectionOf(clientFor(server.url).warmup());
    expect(error).toMatchObject({ status: 401, code: 'unauthorized', retryable: false, route: 'POST /warmup' });
    expect((error as Error).message).not.toContain(credentials.modalSecret);
  });

  it("the seed's HTTP 200 with an error body is an error", async () => {
    const server = await serve((_, response) => sendJson(response, 200, { error: { code: 'generation_error', message: 'sampler diverged' } }));
    const error = await rejectionOf(clientFor(server.url).submitGenerate({ image }));
    expect(error).toMatchObject({ status: 200, code: 'generation_error', retryable: true });
  });

  it('a body that breaks the contract is bad_response, naming the route and the field', async () => {
    const { kind: _dropped, ...withoutKind } = jobAccepted;
    const server = await serve((_, response) => sendJson(response, 200, withoutKind));
    const error = await rejectionOf(clientFor(server.url).submitGenerate({ image }));
    expect(error).toMatchObject({ code: 'bad_response', retryable: false });
    expect((error as Error).message).toMatch(/^POST \/jobs\/generate: the response does not match the service contract: kind: /);
  });

  it('a 200 that is not JSON is bad_response', async () => {
    const server = await serve((_, response) => response.end('<html>hello</html>'));
    const error = await rejectionOf(clientFor(server.url).health());
    expect(error).toMatchObject({ code: 'bad_response', retryable: false });
    expect((error as Error).message).toContain('not JSON');
  });
});

describe('requests are checked before sending', () => {
  it.each([
    ['generate', (client: TrellisClient) => client.submitGenerate({ image, seed: -1 }), /seed/],
    ['extract, both state and state_id', (client: TrellisClient) => client.submitExtractGlb({ state: 'eA==', state_id: `st_${'a'.repeat(32)}` }), /exactly one of state or state_id/],
    ['extract, bad texture size', (client: TrellisClient) => client.submitExtractGlb({ state: 'eA==', texture_size: 300 as 512 }), /texture_size/],
    ['a malformed job id', (client: TrellisClient) => client.getJob('job_../../etc'), /job id/],
    ['a malformed state id', (client: TrellisClient) => client.openStatePreview('st_nope'), /state id/],
  ])('%s fails locally with validation_error', async (_, call, message) => {
    const server = await serve((_, response) => sendJson(response, 500, {}));
    const error = await rejectionOf(call(clientFor(server.url)));
    expect(error).toMatchObject({ code: 'validation_error', retryable: false });
    expect((error as Error).message).toMatch(/invalid request \(not sent\)/);
    expect((error as Error).message).toMatch(message);
    expect(server.requests).toHaveLength(0);
  });

  it('job methods on a subdomain URL are a configuration_error', async () => {
    const client = clientFor('https://ws--trellis2-model-generate.modal.run');
    const error = await rejectionOf(client.submitGenerate({ image }));
    expect(error).toMatchObject({ code: 'configuration_error', retryable: false });
    expect((error as Error).message).toMatch(/path routing/);
  });
});

describe('auth headers', () => {
  it('are sent to /health too, which Modal puts behind proxy auth on the API host', async () => {
    const server = await serve((_request, response) => sendJson(response, 200, { status: 'ok', service: 'trellis2-api' }));
    await clientFor(server.url).health();
    expect(server.requests[0]?.headers['modal-key']).toBeTruthy();
    expect(server.requests[0]?.headers['modal-secret']).toBeTruthy();
  });

  it("are not sent anywhere with credentials 'none'", async () => {
    const server = await serve((_request, response) => sendJson(response, 200, jobAccepted));
    await new TrellisClient({ baseUrl: server.url, credentials: 'none', env: {} }).submitGenerate({ image });
    for (const request of server.requests) {
      expect(request.headers['modal-key']).toBeUndefined();
      expect(request.headers['modal-secret']).toBeUndefined();
    }
  });
});

describe('time limits, aborts and unreachable services', () => {
  const hang: Handler = () => undefined; // never answers

  it('a call over its time limit fails with a retryable timeout', async () => {
    const server = await serve(hang);
    const started = Date.now();
    const error = await rejectionOf(clientFor(server.url).submitGenerate({ image }, { timeoutMs: 100 }));
    expect(error).toMatchObject({ code: 'timeout', retryable: true, route: 'POST /jobs/generate' });
    expect((error as Error).message).toContain('within 100 ms');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('per-kind defaults can be overridden for the whole client', async () => {
    const server = await serve(hang);
    const error = await rejectionOf(clientFor(server.url, { timeoutsMs: { health: 50 } }).health());
    expect(error).toMatchObject({ code: 'timeout' });
  });

  it("the caller's abort is rethrown as is, not wrapped", async () => {
    const server = await serve(hang);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error = await rejectionOf(clientFor(server.url).warmup({ signal: controller.signal }));
    expect(error).toBe(controller.signal.reason);
    expect((error as Error).name).toBe('AbortError');
  });

  it('an already aborted signal never sends', async () => {
    const server = await serve(hang);
    const reason = new Error('activity cancelled');
    const error = await rejectionOf(clientFor(server.url).health({ signal: AbortSignal.abort(reason) }));
    expect(error).toBe(reason);
  });

  it('a refused connection is a retryable connection_error that names the URL and TRELLIS2_API_URL', async () => {
    const server = await serve(hang);
    const url = server.url;
    await server.close();
    const error = await rejectionOf(clientFor(url).health());
    expect(error).toMatchObject({ code: 'connection_error', retryable: true });
    expect((error as Error).message).toContain(`${url}/health`);
    expect((error as Error).message).toContain('ECONNREFUSED');
    expect((error as Error).message).toContain('TRELLIS2_API_URL');
  });

  it('a socket hang-up is a retryable connection_error', async () => {
    const server = await serve((_, response) => response.socket?.destroy());
    const error = await rejectionOf(clientFor(server.url).submitGenerate({ image }));
    expect(error).toMatchObject({ code: 'connection_error', retryable: true });
  });
});
