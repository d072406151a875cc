// Valid service bodies (docs/service-api.md) for the fake servers.
export const requestId = 'req_0123456789abcdef';
export const stateId = `st_${'a'.repeat(32)}`;
export const jobId = `job_${'b'.repeat(32)}`;
export const serverTiming = {
  compute_seconds: 1.5,
  queue_seconds: 0,
  cold_start: false,
  load_seconds: null,
  backend: 'relief',
  device: 'cpu',
};
export const credentials = { modalKey: 'wk-test-key', modalSecret: 'ws-test-secret' };

/** The answer to a job submit. */
export const jobAccepted = { job_id: jobId, kind: 'generate', status: 'queued', request_id: requestId };

export const generateResponse = {
  state: 'c3RhdGU=',
  state_id: null,
  state_expires_at: null,
  video: 'dmlkZW8=',
  video_bytes: 5,
  request_id: requestId,
  server_timing: serverTiming,
};

export function jobStatus(status: 'queued' | 'running' | 'succeeded' | 'failed', error: unknown = null) {
  return {
    job_id: jobId,
    kind: 'generate',
    status,
    created_at: '2025-01-01T00:00:00Z',
    updated_at: '2025-01-01T00:00:01Z',
    result: status === 'succeeded' ? { state_id: stateId, video_bytes: 5 } : null,
    error,
    request_id: requestId,
  };
}

export function errorBody(code: string, message: string, retryable?: boolean) {
  return { error: { code, message, ...(retryable === undefined ? {} : { retryable }) }, request_id: requestId };
}

/** Reads a web stream to the end. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  return Buffer.from(await new Response(stream).arrayBuffer());
}
