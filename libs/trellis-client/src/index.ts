export { TrellisClient, isExtractGlbResult, GLB_MEDIA_TYPE, MAX_JOB_WAIT_MS, MP4_MEDIA_TYPE } from './client';
export type { GetJobOptions, JobResultOptions, TrellisClientOptions, JobResult, JobResultMediaType, JobSubmitOptions } from './client';
export { idempotencyKeyOf, IDEMPOTENCY_KEY_HEADER } from './idempotency';
export { defaultRequestRetry, isTransientRequestFailure, parseRetryAfter, retryDelayMs, sleep, withRequestRetries } from './retry';
export type { RequestRetryPolicy, RetryObserver } from './retry';
export { defaultTimeoutsMs } from './call-deadline';
export type { CallOptions, TimeoutKind } from './call-deadline';
export type { BinaryResult } from './binary-result';
export type { WaitForJobOptions } from './wait-for-job';
export { TrellisServiceError, isTrellisServiceError, isRetryable } from './errors';
export type { ClientErrorCode, RetryableInputs, TrellisServiceErrorFields } from './errors';
export { resolveCredentials, CredentialsError, SecretsFile, defaultSecretsFile, KEY_ENV, SECRET_ENV } from './credentials';
export type { ModalCredentials, CredentialSources } from './credentials';
export { ServiceEndpoints, EndpointError, resolveBaseUrl, API_URL_ENV } from './endpoints';
export type { SyncRoute, UrlLayout } from './endpoints';
// The service types the client takes and returns (defined once, in @trellis/contracts).
export type {
  ExtractGlbPresetsRequest,
  ExtractGlbPresetsJobSummary,
  ExtractGlbRequest,
  ExtractGlbResponse,
  GenerateRequest,
  GenerateResponse,
  HealthResponse,
  JobAccepted,
  JobStatus,
  ServerTiming,
  WarmupResponse,
} from '@trellis/contracts';
