// Jobs: submit, poll with backoff, forgive a few transient poll failures, surface the job's own error.
import { describe, expect, it } from 'vitest';
import { isExtractGlbResult, MAX_JOB_WAIT_MS, type JobStatus } from '../src';
import { clientFor, rejectionOf } from './helpers/client';
import { errorBody, generateResponse, jobId, jobStatus, requestId } from './helpers/fixtures';
import { sendJson, serveForEachTest, type Handler } from './helpers/http-server';

const serve = serveForEachTest();

/** Answers each status poll with the next step; the last step repeats. */
function pollScript(steps: Handler[]): Handler {
  let next = 0;
  return (request, response) => steps[Math.min(next++, steps.length - 1)]!(request, response);
}
const answer = (status: JobStatus['status'], error: unknown = null): Handler => (_, response) =>
  sendJson(response, 200, jobStatus(status, error));
const unavailable: Handler = (_, response) => sendJson(response, 503, errorBody('not_ready', 'model loading', true));
const hangUp: Handler = (_, response) => response.socket?.destroy();

const fast = { pollIntervalMs: 5, maxPollIntervalMs: 20 };

describe('submit and results', () => {
  it('submitGenerate posts the validated body to /jobs/generate and parses the 202', async () => {
    const server = await serve((_, response) =>
      sendJson(response, 202, { job_id: jobId, kind: 'generate', status: 'queued', request_id: requestId }),
    );
    const accepted = await clientFor(server.url).submitGenerate({ image: 'eA==', state_mode: 'reference' });
    expect(accepted).toEqual({ job_id: jobId, kind: 'generate', status: 'queued', request_id: requestId });
    expect(server.requests[0]).toMatchObject({ method: 'POST', url: '/jobs/generate' });
    expect(JSON.parse(server.requests[0]!.body)).toMatchObject({ state_mode: 'reference', seed: 42 });
  });

  it('getJobResult returns the full body; 409 job_not_finished is retryable', async () => {
    const server = await serve(
      pollScript([(_, response) => sendJson(response, 409, errorBody('job_not_finished', 'running', true)), (_, response) => sendJson(response, 200, generateResponse)]),
    );
    const client = clientFor(server.url);
    expect(await rejectionOf(client.getJobResult(jobId))).toMatchObject({ status: 409, code: 'job_not_finished', retryable: true });
    const result = await client.getJobResult(jobId);
    expect(isExtractGlbResult(result)).toBe(false);
    expect(result).toMatchObject({ state: generateResponse.state });
  });
});

describe('waitForJob', () => {
  it('by default a failed poll ends the wait: the retry layer above resumes the job', async () => {
    const server = await serve(pollScript([answer('queued'), unavailable, answer('succeeded')]));
    expect(await rejectionOf(clientFor(server.url).waitForJob(jobId, fast))).toMatchObject({ status: 503, retryable: true });
    expect(server.requests).toHaveLength(2);
  });

  it('polls until succeeded, forgiving transient failures when asked to, and reports every status read', async () => {
    const server = await serve(pollScript([answer('queued'), unavailable, hangUp, answer('running'), answer('succeeded')]));
    const seen: string[] = [];
    const status = await clientFor(server.url).waitForJob(jobId, { ...fast, maxConsecutivePollFailures: 2, onPoll: (s) => seen.push(s.status) });
    expect(status.status).toBe('succeeded');
    expect(seen).toEqual(['queued', 'running', 'succeeded']);
    expect(server.requests.every((request) => request.url === `/jobs/${jobId}`)).toBe(true);
  });

  it("throws a failed job's own error, with its retryable flag", async () => {
    const server = await serve(pollScript([answer('running'), answer('failed', { code: 'cuda_oom', message: 'out of memory', retryable: true })]));
    const error = await rejectionOf(clientFor(server.url).waitForJob(jobId, fast));
    expect(error).toMatchObject({ code: 'cuda_oom', retryable: true, jobId, route: 'POST /jobs/generate' });
    expect((error as Error).message).toContain('out of memory');
  });

  it('a failed job with a permanent error is not retryable', async () => {
    const server = await serve(answer('failed', { code: 'validation_error', message: 'not an image', retryable: false }));
    expect(await rejectionOf(clientFor(server.url).waitForJob(jobId, fast))).toMatchObject({ code: 'validation_error', retryable: false });
  });

  it('gives up after too many transient failures in a row', async () => {
    const server = await serve(unavailable);
    const error = await rejectionOf(clientFor(server.url).waitForJob(jobId, { ...fast, maxConsecutivePollFailures: 2 }));
    expect(error).toMatchObject({ code: 'not_ready', retryable: true });
    expect(server.requests).toHaveLength(3);
  });

  it('stops at once on job_not_found', async () => {
    const server = await serve((_, response) => sendJson(response, 404, errorBody('job_not_found', 'unknown job', false)));
    expect(await rejectionOf(clientFor(server.url).waitForJob(jobId, fast))).toMatchObject({ code: 'job_not_found' });
    expect(server.requests).toHaveLength(1);
  });

  it('backs off gently up to the maximum interval', async () => {
    const server = await serve(pollScript([answer('queued'), answer('queued'), answer('queued'), answer('queued'), answer('succeeded')]));
    const times: number[] = [];
    await clientFor(server.url).waitForJob(jobId, { pollIntervalMs: 40, maxPollIntervalMs: 60, onPoll: () => times.push(Date.now()) });
    const gaps = times.slice(1).map((time, index) => time - times[index]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(35); // 40
    expect(gaps[1]).toBeGreaterThanOrEqual(55); // 60 (40 x 1.5)
    expect(gaps[3]).toBeLessThan(200); // capped at 60, not 135
  });

  it("rethrows the caller's abort as is while waiting", async () => {
    const server = await serve(answer('running'));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 40);
    const error = await rejectionOf(clientFor(server.url).waitForJob(jobId, { ...fast, signal: controller.signal }));
    expect(error).toBe(controller.signal.reason);
  });

  it('a bound on the whole wait ends in a retryable timeout', async () => {
    const server = await serve(answer('running'));
    const error = await rejectionOf(clientFor(server.url).waitForJob(jobId, { ...fast, timeoutMs: 80 }));
    expect(error).toMatchObject({ code: 'timeout', retryable: true, jobId });
  });
});

describe('long polls (GET /jobs/{id}?wait=)', () => {
  /** A service that holds a poll asking to wait for `holdMs` (a job still running), then answers. */
  const heldFor = (holdMs: number, handler: Handler): Handler => async (request, response) => {
    if (new URL(request.url, 'http://x').searchParams.has('wait')) await new Promise((resolve) => setTimeout(resolve, holdMs));
    return handler(request, response);
  };

  it('asks the service to wait, and polls again at once after an answer the service held', async () => {
    const server = await serve(heldFor(150, pollScript([answer('running'), answer('succeeded')])));
    const started = Date.now();
    // A 10 s backoff would show: only the held answer may stand between the polls.
    const done = await clientFor(server.url).waitForJob(jobId, { longPollMs: 200, pollIntervalMs: 10_000 });
    expect(done.status).toBe('succeeded');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(server.requests.map((request) => request.url)).toEqual([`/jobs/${jobId}?wait=0.2`, `/jobs/${jobId}?wait=0.2`]);
  });

  it('does not spin against a service that ignores wait: it sleeps the backoff between quick answers', async () => {
    const server = await serve(answer('running')); // an older service: answers at once, whatever `wait` says
    const error = await rejectionOf(
      clientFor(server.url).waitForJob(jobId, { longPollMs: 1000, pollIntervalMs: 40, maxPollIntervalMs: 60, timeoutMs: 600 }),
    );
    expect(error).toMatchObject({ code: 'timeout', retryable: true, jobId });
    // 600 ms at >= 40 ms a pause: about a dozen polls at most; spinning would be hundreds.
    expect(server.requests.length).toBeGreaterThanOrEqual(2);
    expect(server.requests.length).toBeLessThanOrEqual(16);
    expect(server.requests.every((request) => request.url === `/jobs/${jobId}?wait=1`)).toBe(true);
  });

  it('forgives transient failures between long polls too, when asked to', async () => {
    const server = await serve(pollScript([unavailable, hangUp, answer('succeeded')]));
    const done = await clientFor(server.url).waitForJob(jobId, { ...fast, longPollMs: 500, maxConsecutivePollFailures: 2 });
    expect(done.status).toBe('succeeded');
    expect(server.requests).toHaveLength(3);
  });

  it('without longPollMs, polls as before: no wait parameter', async () => {
    const server = await serve(pollScript([answer('running'), answer('succeeded')]));
    await clientFor(server.url).waitForJob(jobId, fast);
    expect(server.requests.map((request) => request.url)).toEqual([`/jobs/${jobId}`, `/jobs/${jobId}`]);
  });

  it("getJob's waitMs raises the request's time limits by the wait, and no further", async () => {
    const client = clientFor((await serve(heldFor(300, answer('running')))).url, { timeoutsMs: { firstTry: 100, job: 150 } });
    // Held 300 ms: past the 100 ms first-try limit of a short poll, inside it once the wait is added.
    expect((await client.getJob(jobId, { waitMs: 1000 })).status).toBe('running');
    const hung = clientFor((await serve(() => undefined)).url, { timeoutsMs: { firstTry: 100, job: 150 } });
    const started = Date.now();
    expect(await rejectionOf(hung.getJob(jobId, { waitMs: 200 }))).toMatchObject({ code: 'timeout', retryable: true });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(250); // first try: 100 ms + the 200 ms wait
    expect(took).toBeLessThan(3000);
    expect(await rejectionOf(hung.getJob(jobId))).toMatchObject({ code: 'timeout' }); // a short poll: 100 ms
  });

  it('refuses a wait the service would refuse, before sending anything', async () => {
    const server = await serve(answer('running'));
    for (const waitMs of [MAX_JOB_WAIT_MS + 1, -1, Number.NaN]) {
      expect(await rejectionOf(clientFor(server.url).getJob(jobId, { waitMs }))).toMatchObject({ code: 'validation_error', retryable: false });
    }
    expect((await clientFor(server.url).getJob(jobId, { waitMs: MAX_JOB_WAIT_MS })).status).toBe('running');
    expect(server.requests.map((request) => request.url)).toEqual([`/jobs/${jobId}?wait=20`]);
  });
});
