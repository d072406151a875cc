// The TRELLIS.2 service client: one method per route of docs/service-api.md.
import {
  ExtractGlbPresetsRequest,
  ExtractGlbRequest,
  ExtractGlbResponse,
  GenerateRequest,
  GenerateResponse,
  HealthResponse,
  JobAccepted,
  JobId,
  JobStatus,
  PresetName,
  StateId,
  WarmupResponse,
  type JobKind,
} from '@trellis/contracts';
import { z } from 'zod';
import type { BinaryResult } from './binary-result';
import { defaultTimeoutsMs, type CallOptions, type TimeoutKind } from './call-deadline';
import { resolveCredentials, type ModalCredentials } from './credentials';
import { EndpointError, resolveBaseUrl, ServiceEndpoints } from './endpoints';
import { TrellisServiceError } from './errors';
import { IDEMPOTENCY_KEY_HEADER, requireIdempotencyKey } from './idempotency';
import { describeIssues } from './response-errors';
import { defaultRequestRetry, type RequestRetryPolicy } from './retry';
import { ServiceTransport, type ServiceRequest } from './transport';
import { waitForJob, type WaitForJobOptions } from './wait-for-job';

export interface TrellisClientOptions {
  /** Default: env TRELLIS2_API_URL. Either URL layout (see ServiceEndpoints). */
  baseUrl?: string;
  /** Default: env TRELLIS2_MODAL_KEY + TRELLIS2_MODAL_SECRET, then the secrets file. 'none': send no auth. */
  credentials?: Partial<ModalCredentials> | 'none';
  /** Default: ~/.trellis2_modal_secrets.json. */
  secretsFile?: string;
  /** Where TRELLIS2_* variables are read from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Overrides of the per-kind default time limits. */
  timeoutsMs?: Partial<Record<TimeoutKind, number>>;
  /**
   * In-client retry of requests that cannot start work twice (GETs, and job submits with an
   * Idempotency-Key) that dropped mid-flight. Default `defaultRequestRetry` (one retry); false: one try each.
   */
  retry?: Partial<RequestRetryPolicy> | false;
}

/** A job submit's options: with `idempotencyKey`, a lost answer is retried and the service returns the same job. */
export interface JobSubmitOptions extends CallOptions {
  /** Sent as `Idempotency-Key`: 1-64 of [A-Za-z0-9_-], the same for every try of the same work. */
  idempotencyKey?: string;
}

/** The longest long poll the service accepts (`GET /jobs/{id}?wait=`, at most 20 s). */
export const MAX_JOB_WAIT_MS = 20_000;

/** `getJob`'s options: with `waitMs`, a long poll. */
export interface GetJobOptions extends CallOptions {
  /** Ask the service to hold the answer until the job is final, for at most this long (0-20 000 ms; default 0). */
  waitMs?: number;
}

/** A job result request's options: `preset` names one GLB of a multi-preset extract job. */
export interface JobResultOptions extends CallOptions {
  preset?: string;
}

/** What a job result is: the full body of the synchronous route of the job's kind. */
export type JobResult = GenerateResponse | ExtractGlbResponse;
const JobResultSchema = z.union([ExtractGlbResponse, GenerateResponse]);

/** A route as errors name it: method and path template (ids stay out, so errors group by route). */
type Route = `${'GET' | 'POST'} /${string}`;

export type JobResultMediaType = 'model/gltf-binary' | 'video/mp4';
export const GLB_MEDIA_TYPE = 'model/gltf-binary';
export const MP4_MEDIA_TYPE = 'video/mp4';

export function isExtractGlbResult(result: JobResult): result is ExtractGlbResponse {
  return 'glb_sha256' in result;
}

export class TrellisClient {
  readonly endpoints: ServiceEndpoints;
  private readonly transport: ServiceTransport;
  private readonly timeoutsMs: Record<TimeoutKind, number>;
  private readonly retryPolicy: RequestRetryPolicy | undefined;

  /** Throws at once (EndpointError, CredentialsError) when the URL or credentials are missing or malformed. */
  constructor(options: TrellisClientOptions = {}) {
    const env = options.env ?? process.env;
    this.endpoints = ServiceEndpoints.fromBaseUrl(resolveBaseUrl(options.baseUrl, env));
    const credentials =
      options.credentials === 'none'
        ? 'none'
        : resolveCredentials({ explicit: options.credentials, env, secretsFile: options.secretsFile });
    this.transport = new ServiceTransport(credentials);
    this.timeoutsMs = { ...defaultTimeoutsMs, ...options.timeoutsMs };
    this.retryPolicy = options.retry === false ? undefined : { ...defaultRequestRetry, ...options.retry };
  }

  // --- Health and warm-up ---------------------------------------------------------------------------------

  health(options?: CallOptions): Promise<HealthResponse> {
    const request = this.request('GET /health', this.endpoints.route('health'), 'health', options, { retry: true });
    // Credentials go along: on Modal the API host's /health sits behind proxy auth (the separate
    // -health host does not), and an open health route ignores them.
    return this.transport.json(request, HealthResponse);
  }

  /** Blocks until the model is loaded (a cold start on Modal takes 2-2.5 min). */
  warmup(options?: CallOptions): Promise<WarmupResponse> {
    const request = this.request('POST /warmup', this.endpoints.route('warmup'), 'warmup', options);
    return this.transport.json({ ...request, body: {} }, WarmupResponse);
  }

  // --- Jobs (path routing only) -------------------------------------------------------------------------

  /**
   * Queues a generation. With `idempotencyKey` a submit that dropped mid-flight (a lost answer included) is
   * retried once and the service answers a repeated key with the same job; without one it is tried once.
   */
  async submitGenerate(body: GenerateRequest, options?: JobSubmitOptions): Promise<JobAccepted> {
    return this.submit('generate', validated(GenerateRequest, body, 'POST /jobs/generate'), options);
  }

  async submitExtractGlb(body: ExtractGlbRequest, options?: JobSubmitOptions): Promise<JobAccepted> {
    return this.submit('extract_glb', validated(ExtractGlbRequest, body, 'POST /jobs/extract_glb'), options);
  }

  /**
   * Queues one job that extracts every preset in `body.presets` from one state in one GPU call. Its status
   * carries each preset's size and sha256 (ExtractGlbPresetsJobSummary); each GLB is then fetched with
   * `openJobResult(jobId, GLB_MEDIA_TYPE, { preset })`.
   */
  async submitExtractGlbPresets(body: ExtractGlbPresetsRequest, options?: JobSubmitOptions): Promise<JobAccepted> {
    return this.submit('extract_glb', validated(ExtractGlbPresetsRequest, body, 'POST /jobs/extract_glb'), options);
  }

  /**
   * The job's status. With `waitMs` > 0 a long poll: the service answers once the job is final, or after
   * `waitMs` with the current status. The request's time limits grow by `waitMs`, so a hung long poll is
   * still cut `firstTry` (4 s) after the wait.
   */
  async getJob(jobId: string, options?: GetJobOptions): Promise<JobStatus> {
    const route: Route = 'GET /jobs/{job_id}';
    const waitMs = options?.waitMs ?? 0;
    if (!(waitMs >= 0 && waitMs <= MAX_JOB_WAIT_MS)) {
      throw new TrellisServiceError(`${route}: waitMs must be 0 to ${MAX_JOB_WAIT_MS} ms, not ${waitMs} (not sent)`, {
        code: 'validation_error',
        route,
        retryable: false,
      });
    }
    const url = this.pathRouted(route, () => this.endpoints.job(validated(JobId, jobId, route)));
    const request = this.request(route, waitMs > 0 ? `${url}?wait=${waitMs / 1000}` : url, 'job', options, { retry: true, waitMs });
    return this.transport.json(request, JobStatus);
  }

  /**
   * The full JSON body of a succeeded job (of a multi-preset extract job: of the GLB `options.preset`);
   * `409 job_not_finished` (retryable) while it runs.
   */
  async getJobResult(jobId: string, options?: JobResultOptions): Promise<JobResult> {
    return this.transport.json(this.jobResultRequest(jobId, options), JobResultSchema);
  }

  /**
   * A job's result as raw bytes: the GLB of an extract job (of a multi-preset one: `options.preset`'s), or
   * the preview video of a generate job.
   */
  async openJobResult(jobId: string, accept: JobResultMediaType, options?: JobResultOptions): Promise<BinaryResult> {
    return this.transport.binary(this.jobResultRequest(jobId, options), accept);
  }

  /**
   * Polls `GET /jobs/{id}` until the job succeeded (→ its status) or failed (→ throws its error); with
   * `longPollMs`, each poll is a long poll (see WaitForJobOptions).
   */
  async waitForJob(jobId: string, options?: WaitForJobOptions): Promise<JobStatus> {
    const pollTimeoutMs = options?.pollTimeoutMs ?? this.timeoutsMs.job;
    return waitForJob(jobId, (callOptions) => this.getJob(jobId, callOptions), { ...options, pollTimeoutMs });
  }

  // --- States (reference mode) ------------------------------------------------------------------------

  /** The preview video kept with a reference-mode state (`404 state_not_found` once it expired). */
  async openStatePreview(stateId: string, options?: CallOptions): Promise<BinaryResult> {
    const route: Route = 'GET /states/{state_id}/preview.mp4';
    const url = this.pathRouted(route, () => this.endpoints.statePreview(validated(StateId, stateId, route)));
    return this.transport.binary(this.request(route, url, 'download', options, { retry: true, idle: true }), MP4_MEDIA_TYPE);
  }

  /**
   * Whether the service still keeps a reference-mode state (it is deleted at `state_expires_at`, and a
   * different service or store never had it). Asks for its preview and reads none of it.
   */
  async stateExists(stateId: string, options?: CallOptions): Promise<boolean> {
    try {
      const preview = await this.openStatePreview(stateId, options);
      await preview.body.cancel();
      return true;
    } catch (error) {
      if (error instanceof TrellisServiceError && error.code === 'state_not_found') return false;
      throw error;
    }
  }

  // --- Helpers ------------------------------------------------------------------------------------------

  private submit(kind: JobKind, body: unknown, options?: JobSubmitOptions): Promise<JobAccepted> {
    const route = `POST /jobs/${kind}` as const;
    const url = this.pathRouted(route, () => this.endpoints.submitJob(kind));
    const key = options?.idempotencyKey;
    if (key === undefined) return this.transport.json({ ...this.request(route, url, 'job', options), body }, JobAccepted);
    // Safe to retry: the service maps the key to the job it started, so a repeat starts nothing new.
    const request = this.request(route, url, 'job', options, { retry: true });
    const headers = { [IDEMPOTENCY_KEY_HEADER]: requireIdempotencyKey(key, route) };
    return this.transport.json({ ...request, body, headers }, JobAccepted);
  }

  private jobResultRequest(jobId: string, options?: JobResultOptions): ServiceRequest {
    const route: Route = 'GET /jobs/{job_id}/result';
    const url = this.pathRouted(route, () => this.endpoints.jobResult(validated(JobId, jobId, route)));
    const preset = options?.preset === undefined ? undefined : validated(PresetName, options.preset, route);
    // A preset name is [a-z0-9_-] only (PresetName), so it goes into the query as is.
    const withPreset = preset === undefined ? url : `${url}?preset=${preset}`;
    return this.request(route, withPreset, 'download', options, { retry: true, idle: true });
  }

  /**
   * `retry`: the request cannot start work twice, so transient failures are retried here. `waitMs`: the
   * service may hold the answer this long on purpose (a long poll); both time limits grow by it, so a
   * hung request is still cut as soon after the wait as an ordinary one is after sending.
   */
  private request(
    route: Route,
    url: string,
    kind: TimeoutKind,
    options?: CallOptions,
    traits: { retry?: boolean; idle?: boolean; waitMs?: number } = {},
  ): ServiceRequest {
    const waitMs = traits.waitMs ?? 0;
    const firstTry = (kind === 'job' || kind === 'download') && traits.retry ? this.timeoutsMs.firstTry : undefined;
    return {
      method: route.startsWith('GET ') ? 'GET' : 'POST',
      route,
      url,
      authenticated: true,
      timeoutMs: (options?.timeoutMs ?? this.timeoutsMs[kind]) + waitMs,
      firstTryTimeoutMs: firstTry === undefined ? undefined : firstTry + waitMs,
      idleTimeoutMs: traits.idle ? this.timeoutsMs.downloadIdle : undefined,
      retry: traits.retry ? this.retryPolicy : undefined,
      signal: options?.signal,
    };
  }

  /** Jobs and states exist only with path routing: say so as a non-retryable error, not a 404 later. */
  private pathRouted(route: string, buildUrl: () => string): string {
    try {
      return buildUrl();
    } catch (error) {
      if (!(error instanceof EndpointError)) throw error;
      throw new TrellisServiceError(`${route}: ${error.message}`, { code: 'configuration_error', route, retryable: false });
    }
  }
}

/**
 * The request as the service will see it (defaults filled in), or a local `validation_error` naming the
 * fields, before anything is sent.
 */
function validated<Schema extends z.ZodType>(schema: Schema, value: unknown, route: string): z.output<Schema> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new TrellisServiceError(`${route}: invalid request (not sent): ${describeIssues(parsed.error)}`, {
    code: 'validation_error',
    route,
    retryable: false,
  });
}
