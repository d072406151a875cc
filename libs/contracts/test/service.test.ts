import { describe, expect, it } from 'vitest';
import { ExtractGlbRequest, GenerateRequest, JobId, RequestId, ServerTiming, StateId } from '../src';

const hex = (length: number, digit = 'a') => digit.repeat(length);

describe('ids', () => {
  it('StateId is "st_" + 32 lowercase hex digits', () => {
    expect(StateId.safeParse(`st_${'0123456789abcdef'.repeat(2)}`).success).toBe(true);
    for (const bad of [`st_${hex(31)}`, `st_${hex(33)}`, `st_${hex(32, 'A')}`, `st_${hex(32, 'g')}`, `job_${hex(32)}`, hex(32), ` st_${hex(32)}`]) {
      expect(StateId.safeParse(bad).success, bad).toBe(false);
    }
    expect(StateId.safeParse('st_x').error!.issues[0]!.message).toBe('a state id is "st_" and 32 lowercase hex digits');
  });

  it('JobId is "job_" + 32 lowercase hex digits', () => {
    expect(JobId.safeParse(`job_${hex(32, 'f')}`).success).toBe(true);
    for (const bad of [`job_${hex(31)}`, `job_${hex(32, 'F')}`, `st_${hex(32)}`, `job_${hex(32)}\n`]) expect(JobId.safeParse(bad).success, bad).toBe(false);
  });

  it('RequestId is "req_" + 16 lowercase hex digits', () => {
    expect(RequestId.safeParse(`req_${hex(16, '9')}`).success).toBe(true);
    for (const bad of [`req_${hex(15)}`, `req_${hex(17)}`, `req_${hex(16, 'B')}`, `request_${hex(16)}`]) {
      expect(RequestId.safeParse(bad).success, bad).toBe(false);
    }
  });
});

describe('ExtractGlbRequest', () => {
  const stateId = `st_${hex(32)}`;

  it('takes exactly one of state or state_id, and fills the Quality defaults', () => {
    expect(ExtractGlbRequest.parse({ state: 'base64-state' })).toEqual({
      state: 'base64-state',
      decimation_target: 1_000_000,
      texture_size: 4096,
      remesh: true,
      remesh_band: 1.0,
      remesh_project: 0.0,
    });
    expect(ExtractGlbRequest.parse({ state_id: stateId, texture_size: 1024 })).toMatchObject({ state_id: stateId, texture_size: 1024 });
  });

  it('refuses neither and both', () => {
    for (const body of [{}, { state: 'abc', state_id: stateId }]) {
      const issues = ExtractGlbRequest.safeParse(body).error?.issues;
      expect(issues?.map((issue) => issue.message)).toEqual(['give exactly one of state or state_id']);
    }
  });

  it('refuses an empty state and a malformed state_id', () => {
    expect(ExtractGlbRequest.safeParse({ state: '' }).success).toBe(false);
    expect(ExtractGlbRequest.safeParse({ state_id: 'st_123' }).success).toBe(false);
  });

  it('still checks the extraction settings', () => {
    expect(ExtractGlbRequest.safeParse({ state: 'abc', decimation_target: 10 }).error?.issues[0]?.path).toEqual(['decimation_target']);
  });
});

describe('GenerateRequest', () => {
  it('defaults to seed 42, pipeline 1024_cascade, inline state, with the preview video', () => {
    expect(GenerateRequest.parse({ image: 'aGVsbG8=' })).toMatchObject({
      seed: 42,
      pipeline_type: '1024_cascade',
      state_mode: 'inline',
      include_video: true,
      ss_sampling_steps: 12,
    });
    expect(GenerateRequest.safeParse({ image: '' }).success).toBe(false);
    expect(GenerateRequest.safeParse({ image: 'x', state_mode: 'disk' }).success).toBe(false);
  });
});

describe('ServerTiming', () => {
  it('fills queue_seconds and load_seconds when an older service leaves them out', () => {
    expect(ServerTiming.parse({ compute_seconds: 3.5, cold_start: false, backend: 'relief', device: 'cpu' })).toEqual({
      compute_seconds: 3.5,
      queue_seconds: 0,
      cold_start: false,
      load_seconds: null,
      backend: 'relief',
      device: 'cpu',
    });
    expect(ServerTiming.safeParse({ compute_seconds: -1, cold_start: false, backend: 'b', device: 'd' }).success).toBe(false);
  });
});
