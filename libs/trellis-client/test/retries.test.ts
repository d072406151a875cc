// The network lies: answers lost after the work was accepted, resets, 503s, hung requests and stalled
// bodies, imitated at the transport level by small real HTTP servers. What must hold: a retried submit
// carries the same Idempotency-Key (so the service can hand back the same job), only requests that cannot
// start work twice are retried, and hung or stalled requests are cut and retried instead of waited out.
import { describe, expect, it } from 'vitest';
import { defaultRequestRetry, idempotencyKeyOf, retryDelayMs, type RequestRetryPolicy } from '../src';
import { clientFor, rejectionOf } from './helpers/client';
import { errorBody, jobId, jobStatus, readAll, requestId, serverTiming, stateId } from './helpers/fixtures';
import { sendJson, serveForEachTest, type Handler } from './helpers/http-server';

const serve = serveForEachTest();

/** Short pauses so the tests run fast; the shape (doubling, jitter, Retry-After) is the default's. */
const quick: Partial<RequestRetryPolicy> = { initialDelayMs: 5, maxDelayMs: 20 };
const generateBody = { image: 'aW1hZ2U=', state_mode: 'reference' as const };
const key = idempotencyKeyOf(['wf-1', 'activity-3', 'c'.repeat(64)]);

/**
 * A job service that keeps key -> job like the real one (docs/service-api.md): a repeated key gets the same
 * job; each new key (or no key) gets a new job. `loseAnswers` answers are dropped after the job was made.
 */
function idempotentJobService(options: { loseAnswers: number }) {
  const jobsByKey = new Map<string, string>();
  let jobsStarted = 0;
  let lost = 0;
  const handler: Handler = (request, response) => {
    const requestKey = request.headers['idempotency-key'];
    let id = typeof requestKey === 'string' ? jobsByKey.get(requestKey) : undefined;
    if (id === undefined) {
      jobsStarted += 1;
      id = `job_${String(jobsStarted).padStart(32, '0')}`;
      if (typeof requestKey === 'string') jobsByKey.set(requestKey, id);
    }
    if (lost < options.loseAnswers) {
      lost += 1;
      response.socket?.destroy(); // the work was accepted; the answer never arrives
      return;
    }
    sendJson(response, 202, { job_id: id, kind: 'generate', status: 'queued', request_id: requestId });
  };
  return { handler, jobsStarted: () => jobsStarted };
}

describe('job submits with an Idempotency-Key', () => {
  it('a lost answer is retried with the same key and yields the one job the service started', async () => {
    const service = idempotentJobService({ loseAnswers: 1 });
    const server = await serve(service.handler);
    const accepted = await clientFor(server.url, { retry: quick }).submitGenerate(generateBody, { idempotencyKey: key });

    expect(server.requests).toHaveLength(2);
    expect(server.requests.map((request) => request.headers['idempotency-key'])).toEqual([key, key]);
    expect(new Set(server.requests.map((request) => request.body)).size).toBe(1);
    expect(service.jobsStarted()).toBe(1);
    expect(accepted.job_id).toBe(`job_${'1'.padStart(32, '0')}`);
  });

  it('without a key a submit is tried once: a retry could start a second job', async () => {
    const service = idempotentJobService({ loseAnswers: 1 });
    const server = await serve(service.handler);
    const error = await rejectionOf(clientFor(server.url, { retry: quick }).submitGenerate(generateBody));
    expect(error).toMatchObject({ code: 'connection_error', retryable: true });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.headers['idempotency-key']).toBeUndefined();
  });

  it('a key reused with another body (422 idempotency_key_reused) is not retried', async () => {
    const server = await serve((_, response) => sendJson(response, 422, errorBody('idempotency_key_reused', 'key was used with a different body', false)));
    const error = await rejectionOf(clientFor(server.url, { retry: quick }).submitGenerate(generateBody, { idempotencyKey: key }));
    expect(error).toMatchObject({ code: 'idempotency_key_reused', retryable: false, status: 422 });
    expect(server.requests).toHaveLength(1);
  });

  it('a malformed key is refused before anything is sent', async () => {
    const server = await serve(idempotentJobService({ loseAnswers: 0 }).handler);
    const error = await rejectionOf(clientFor(server.url).submitGenerate(generateBody, { idempotencyKey: 'has spaces' }));
    expect(error).toMatchObject({ code: 'validation_error', retryable: false });
    expect(server.requests).toHaveLength(0);
  });

  it('keys are 64 hex digits, the same for the same parts and different for different ones', () => {
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(idempotencyKeyOf(['wf-1', 'activity-3', 'c'.repeat(64)])).toBe(key);
    expect(idempotencyKeyOf(['wf-1', 'activity-4', 'c'.repeat(64)])).not.toBe(key);
    expect(idempotencyKeyOf(['a', 'bc'])).not.toBe(idempotencyKeyOf(['ab', 'c']));
  });
});

/** Answers `failures` requests with `fail`, then `succeed`. */
function failingFirst(failures: number, fail: Handler, succeed: Handler): Handler {
  let seen = 0;
  return (request, response) => (seen++ < failures ? fail(request, response) : succeed(request, response));
}

const unavailable: Handler = (_, response) => sendJson(response, 503, errorBody('internal_error', 'upstream unavailable', true));
const reset: Handler = (_, response) => response.socket?.destroy();
const hang: Handler = () => undefined;
const running: Handler = (_, response) => sendJson(response, 200, jobStatus('running'));

describe('transient failures of requests that cannot start work twice', () => {
  it('a poll that dropped mid-flight (503, reset, hung request cut by its time limit) is retried once', async () => {
    for (const fault of [unavailable, reset, hang]) {
      const server = await serve(failingFirst(1, fault, running));
      const client = clientFor(server.url, { retry: quick, timeoutsMs: { job: 100 } });
      expect((await client.getJob(jobId)).status).toBe('running');
      expect(server.requests).toHaveLength(2);
    }
  });

  it('by default only once: a second drop goes to the caller (whose retry layer is the activity)', async () => {
    const server = await serve(failingFirst(2, reset, running));
    const error = await rejectionOf(clientFor(server.url, { retry: quick }).getJob(jobId));
    expect(error).toMatchObject({ code: 'connection_error', retryable: true });
    expect(server.requests).toHaveLength(2);
    expect(defaultRequestRetry.maxAttempts).toBe(2);
  });

  it('other retryable answers (429, 500, 502, 504) are not retried here: their pause is the caller\'s to choose', async () => {
    for (const status of [429, 500, 502, 504]) {
      const server = await serve((_, response) => sendJson(response, status, errorBody('internal_error', 'busy', true)));
      const error = await rejectionOf(clientFor(server.url, { retry: quick }).getJob(jobId));
      expect(error).toMatchObject({ status, retryable: true });
      expect(server.requests).toHaveLength(1);
    }
  });

  it('a hung first try is cut early; each retry gets twice as long, so a slow answer still gets through', async () => {
    let seen = 0;
    const slow: Handler = (request, response) => void setTimeout(() => running(request, response), 150);
    const server = await serve((request, response) => (seen++ === 0 ? hang(request, response) : slow(request, response)));
    // Tries get 100 ms, then 200 ms: the 150 ms answer arrives on the second (a fixed 100 ms never would).
    const client = clientFor(server.url, { retry: quick, timeoutsMs: { job: 1000, firstTry: 100 } });
    expect((await client.getJob(jobId)).status).toBe('running');
    expect(server.requests).toHaveLength(2);
  });

  it('honours Retry-After, and leaves a Retry-After beyond the policy to the caller', async () => {
    const busy: Handler = (_, response) => sendJson(response, 503, errorBody('internal_error', 'slow down', true), { 'retry-after': '0' });
    const server = await serve(failingFirst(1, busy, running));
    expect((await clientFor(server.url, { retry: quick }).getJob(jobId)).status).toBe('running');
    expect(server.requests).toHaveLength(2);

    const longWait: Handler = (_, response) => sendJson(response, 503, errorBody('internal_error', 'maintenance', true), { 'retry-after': '3600' });
    const closed = await serve(longWait);
    const error = await rejectionOf(clientFor(closed.url, { retry: quick }).getJob(jobId));
    expect(error).toMatchObject({ status: 503, retryAfterMs: 3_600_000 });
    expect(closed.requests).toHaveLength(1);
  });

  it('gives up after maxAttempts with the last error', async () => {
    const server = await serve(unavailable);
    const error = await rejectionOf(clientFor(server.url, { retry: { ...quick, maxAttempts: 3 } }).getJob(jobId));
    expect(error).toMatchObject({ status: 503, retryable: true });
    expect(server.requests).toHaveLength(3);
  });

  it('permanent errors are not retried: 401 names where credentials come from', async () => {
    const server = await serve((_, response) => sendJson(response, 401, errorBody('unauthorized', 'bad key', false)));
    const error = await rejectionOf(clientFor(server.url, { retry: quick }).getJob(jobId));
    expect(error).toMatchObject({ code: 'unauthorized', retryable: false });
    expect((error as Error).message).toContain('TRELLIS2_MODAL_SECRET');
    expect(server.requests).toHaveLength(1);
  });

  it("the caller's abort stops the retries with its own reason", async () => {
    const server = await serve(unavailable);
    const controller = new AbortController();
    const pending = rejectionOf(clientFor(server.url, { retry: { ...quick, initialDelayMs: 10_000, maxDelayMs: 10_000 } }).getJob(jobId, { signal: controller.signal }));
    setTimeout(() => controller.abort(), 50);
    expect(await pending).toBe(controller.signal.reason);
    expect(server.requests).toHaveLength(1);
  });

  it('the default pause is a quarter second jittered to 50-100 %, or the Retry-After the server asked for', () => {
    const policy = defaultRequestRetry;
    expect(retryDelayMs(1, policy, undefined, () => 0)).toBe(125);
    expect(retryDelayMs(1, policy, undefined, () => 1)).toBe(250);
    expect(retryDelayMs(1, policy, 1000, () => 1)).toBe(1000);
    expect(policy.maxRetryAfterMs).toBe(5000);
  });
});

const mp4Headers = { 'content-type': 'video/mp4', 'x-request-id': requestId, 'x-server-timing': JSON.stringify(serverTiming) };

describe('result downloads: an idle limit, not a total one', () => {
  it('a body that stalls is cut after the idle limit with a retryable timeout', async () => {
    const server = await serve((_, response) => {
      response.writeHead(200, { ...mp4Headers, 'content-length': 1000 });
      response.write(Buffer.alloc(10)); // then nothing more
    });
    const client = clientFor(server.url, { timeoutsMs: { downloadIdle: 100 } });
    const result = await client.openJobResult(jobId, 'video/mp4');
    const error = await rejectionOf(readAll(result.body));
    expect(error).toMatchObject({ code: 'timeout', retryable: true, route: 'GET /jobs/{job_id}/result' });
    expect((error as Error).message).toContain('stalled');
  });

  it('a slow body that keeps moving is read to the end, past many idle limits in total', async () => {
    const chunks = 8;
    const server = await serve((_, response) => {
      response.writeHead(200, { ...mp4Headers, 'content-length': chunks });
      let sent = 0;
      const timer = setInterval(() => {
        response.write(Buffer.from([sent]));
        if (++sent === chunks) {
          clearInterval(timer);
          response.end();
        }
      }, 40);
    });
    const client = clientFor(server.url, { timeoutsMs: { downloadIdle: 150 } });
    const result = await client.openJobResult(jobId, 'video/mp4');
    expect([...(await readAll(result.body))]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('a JSON result whose body stalls is cut by the same idle limit', async () => {
    const server = await serve((_, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': 10_000 });
      response.write('{"state": "'); // then nothing more
    });
    const client = clientFor(server.url, { timeoutsMs: { downloadIdle: 100 } });
    const error = await rejectionOf(client.getJobResult(jobId));
    expect(error).toMatchObject({ code: 'timeout', retryable: true });
    expect((error as Error).message).toContain('stalled');
  });

  it('opening a result is retried through a 503; headers are awaited under the download limit', async () => {
    const video: Handler = (_, response) => {
      response.writeHead(200, { ...mp4Headers, 'content-length': 4 });
      response.end(Buffer.from('mp4!'));
    };
    const server = await serve(failingFirst(1, unavailable, video));
    const result = await clientFor(server.url, { retry: quick }).openJobResult(jobId, 'video/mp4');
    expect((await readAll(result.body)).toString()).toBe('mp4!');
    expect(server.requests).toHaveLength(2);
  });
});

describe('stateExists', () => {
  it('is true while the service keeps the state and false once it answers state_not_found', async () => {
    const server = await serve((request, response) => {
      if (request.url === `/states/${stateId}/preview.mp4`) {
        response.writeHead(200, { ...mp4Headers, 'content-length': 4 });
        response.end(Buffer.from('mp4!'));
      } else {
        sendJson(response, 404, errorBody('state_not_found', 'unknown or expired', false));
      }
    });
    const client = clientFor(server.url);
    expect(await client.stateExists(stateId)).toBe(true);
    expect(await client.stateExists(`st_${'0'.repeat(32)}`)).toBe(false);
  });
});
