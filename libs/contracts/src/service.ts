// The TRELLIS.2 service API (docs/service-api.md): what the client sends and what it accepts back.
import { z } from 'zod';
import serviceErrors from './error-codes.json' with { type: 'json' };
import { ExtractSettings, PipelineType, PresetName, SamplerSettings, Seed } from './pipeline';

export const RequestId = z.string().regex(/^req_[0-9a-f]{16}$/);
export const StateId = z.string().regex(/^st_[0-9a-f]{32}$/, 'a state id is "st_" and 32 lowercase hex digits');
export type StateId = z.infer<typeof StateId>;
export const JobId = z.string().regex(/^job_[0-9a-f]{32}$/, 'a job id is "job_" and 32 lowercase hex digits');
export type JobId = z.infer<typeof JobId>;

/**
 * The service's error codes with their HTTP status and whether a retry can help: written from the service's
 * own table (gpu-modal/trellis2_service/errors.py; a test there keeps them equal), read by the client.
 */
export const serviceErrorTable: Readonly<Record<KnownErrorCode, { status: number; retryable: boolean }>> = serviceErrors;
export type KnownErrorCode = keyof typeof serviceErrors;
/** Codes are kept open (a newer service may add one); the known ones drive retry decisions. */
export const ErrorCode = z.string().min(1);

export const ServiceErrorBody = z.object({
  error: z.object({ code: ErrorCode, message: z.string(), retryable: z.boolean().optional() }),
  request_id: RequestId.optional(),
});
export type ServiceErrorBody = z.infer<typeof ServiceErrorBody>;

export const ServerTiming = z.object({
  compute_seconds: z.number().min(0),
  queue_seconds: z.number().min(0).default(0),
  cold_start: z.boolean(),
  load_seconds: z.number().min(0).nullable().default(null),
  backend: z.string(),
  device: z.string(),
});
export type ServerTiming = z.infer<typeof ServerTiming>;

export const HealthResponse = z.object({
  status: z.literal('ok'),
  service: z.string(),
  backend: z.string().optional(),
  version: z.string().optional(),
});
export type HealthResponse = z.infer<typeof HealthResponse>;

export const WarmupResponse = z.object({
  ready: z.boolean(),
  device: z.string(),
  backend: z.string(),
  load_seconds: z.number().min(0).nullable(),
  cold_start: z.boolean(),
  container_id: z.string(),
  /** A GPU container (locally: the process) had the model loaded before this call. */
  warm: z.boolean().optional(),
  /** This call started loading one (on Modal: spawned one warm-up call, not waited for; ready is false). */
  started: z.boolean().optional(),
  request_id: RequestId,
  server_timing: ServerTiming,
});
export type WarmupResponse = z.infer<typeof WarmupResponse>;

export const StateMode = z.enum(['inline', 'reference']);

export const GenerateRequest = SamplerSettings.extend({
  image: z.string().min(1),
  seed: Seed.default(42),
  pipeline_type: PipelineType.default('1024_cascade'),
  state_mode: StateMode.default('inline'),
  include_video: z.boolean().default(true),
});
export type GenerateRequest = z.input<typeof GenerateRequest>;

export const GenerateResponse = z.object({
  state: z.string().nullable(),
  state_id: StateId.nullable(),
  state_expires_at: z.string().nullable(),
  video: z.string().nullable().optional(),
  video_bytes: z.number().int().min(0),
  request_id: RequestId,
  server_timing: ServerTiming,
});
export type GenerateResponse = z.infer<typeof GenerateResponse>;

export const ExtractGlbRequest = ExtractSettings.extend({
  state: z.string().min(1).optional(),
  state_id: StateId.optional(),
}).refine((body) => (body.state === undefined) !== (body.state_id === undefined), {
  message: 'give exactly one of state or state_id',
});
export type ExtractGlbRequest = z.input<typeof ExtractGlbRequest>;

/** The most presets one extract job may make (the service's MAX_PRESETS_PER_JOB). */
export const MAX_PRESETS_PER_JOB = 8;

/** One GLB of a multi-preset extract job: its name (the `?preset=` of its result) and its settings. */
export const NamedExtractSettings = ExtractSettings.extend({ name: PresetName });

/**
 * `POST /jobs/extract_glb` with `presets`: several GLBs from one state in one GPU call (the state decoded
 * once, the preset-independent work done once). No top-level extraction field may go with `presets`.
 */
export const ExtractGlbPresetsRequest = z
  .object({
    state: z.string().min(1).optional(),
    state_id: StateId.optional(),
    presets: z.array(NamedExtractSettings).min(1).max(MAX_PRESETS_PER_JOB),
  })
  .strict()
  .refine((body) => (body.state === undefined) !== (body.state_id === undefined), {
    message: 'give exactly one of state or state_id',
  })
  .refine((body) => new Set(body.presets.map((preset) => preset.name)).size === body.presets.length, {
    message: 'preset names must be unique',
    path: ['presets'],
  });
export type ExtractGlbPresetsRequest = z.input<typeof ExtractGlbPresetsRequest>;

export const ExtractGlbResponse = z.object({
  glb: z.string().optional(),
  glb_bytes: z.number().int().min(0),
  glb_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  request_id: RequestId,
  server_timing: ServerTiming,
});
export type ExtractGlbResponse = z.infer<typeof ExtractGlbResponse>;

export const JobKind = z.enum(['generate', 'extract_glb']);
export type JobKind = z.infer<typeof JobKind>;
export const JobStatusName = z.enum(['queued', 'running', 'succeeded', 'failed']);

export const JobAccepted = z.object({
  job_id: JobId,
  kind: JobKind,
  status: JobStatusName,
  request_id: RequestId,
});
export type JobAccepted = z.infer<typeof JobAccepted>;

/** `GET /jobs/{id}`: the result without its heavy fields (glb, video, state). */
export const JobStatus = z.object({
  job_id: JobId,
  kind: JobKind,
  status: JobStatusName,
  created_at: z.string(),
  updated_at: z.string(),
  result: z.record(z.string(), z.unknown()).nullable(),
  error: z.object({ code: ErrorCode, message: z.string(), retryable: z.boolean() }).nullable(),
  request_id: RequestId,
});
export type JobStatus = z.infer<typeof JobStatus>;

/** What `GET /jobs/{id}` carries as `result`: the synchronous response without its heavy fields. */
export const GenerateJobSummary = GenerateResponse.omit({ state: true, video: true });
export const ExtractGlbJobSummary = ExtractGlbResponse.omit({ glb: true });
/** `result` of a succeeded multi-preset extract job: each GLB's size and sha256 by preset name. */
export const ExtractGlbPresetsJobSummary = z.object({
  presets: z.record(PresetName, z.object({ glb_bytes: z.number().int().min(0), glb_sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
  request_id: RequestId,
  server_timing: ServerTiming,
});
export type ExtractGlbPresetsJobSummary = z.infer<typeof ExtractGlbPresetsJobSummary>;
