import { describe, expect, it } from 'vitest';
import { EndpointError, resolveBaseUrl, ServiceEndpoints } from '../src/endpoints';
import { jobId, stateId } from './helpers/fixtures';

describe('ServiceEndpoints: path routing', () => {
  it.each([
    ['http://127.0.0.1:8787', 'http://127.0.0.1:8787'],
    ['http://127.0.0.1:8787/', 'http://127.0.0.1:8787'],
    ['https://ws--trellis2-api.modal.run/', 'https://ws--trellis2-api.modal.run'],
    ['https://example.com/trellis/v1//', 'https://example.com/trellis/v1'],
    ['https://example.com/trellis/generate', 'https://example.com/trellis'],
    ['https://example.com/trellis/extract_glb/', 'https://example.com/trellis'],
  ])('%s → base %s', (given, base) => {
    const endpoints = ServiceEndpoints.fromBaseUrl(given);
    expect(endpoints.layout).toBe('path');
    expect(endpoints.route('health')).toBe(`${base}/health`);
    expect(endpoints.route('warmup')).toBe(`${base}/warmup`);
    expect(endpoints.route('generate')).toBe(`${base}/generate`);
    expect(endpoints.route('extract_glb')).toBe(`${base}/extract_glb`);
    expect(endpoints.submitJob('extract_glb')).toBe(`${base}/jobs/extract_glb`);
    expect(endpoints.job(jobId)).toBe(`${base}/jobs/${jobId}`);
    expect(endpoints.jobResult(jobId)).toBe(`${base}/jobs/${jobId}/result`);
    expect(endpoints.statePreview(stateId)).toBe(`${base}/states/${stateId}/preview.mp4`);
  });

  it('never puts a malformed id into a path', () => {
    const endpoints = ServiceEndpoints.fromBaseUrl('http://127.0.0.1:8787');
    expect(() => endpoints.job('../../etc/passwd')).toThrow();
    expect(() => endpoints.statePreview(`st_${'A'.repeat(32)}`)).toThrow();
  });
});

describe('ServiceEndpoints: Modal subdomain routing', () => {
  const hosts = {
    generate: 'https://ws--trellis2-model-generate.modal.run/',
    extract_glb: 'https://ws--trellis2-model-extract-glb.modal.run/',
    warmup: 'https://ws--trellis2-model-warmup.modal.run/',
    health: 'https://ws--trellis2-model-health.modal.run/',
  };

  it.each(Object.values(hosts))('derives every endpoint from %s', (given) => {
    const endpoints = ServiceEndpoints.fromBaseUrl(given);
    expect(endpoints.layout).toBe('subdomain');
    expect(endpoints.route('generate')).toBe(hosts.generate);
    expect(endpoints.route('extract_glb')).toBe(hosts.extract_glb);
    expect(endpoints.route('warmup')).toBe(hosts.warmup);
    expect(endpoints.route('health')).toBe(hosts.health);
  });

  it('keeps the -dev suffix of `modal serve` URLs', () => {
    const endpoints = ServiceEndpoints.fromBaseUrl('https://ws--trellis2-model-generate-dev.modal.run');
    expect(endpoints.route('extract_glb')).toBe('https://ws--trellis2-model-extract-glb-dev.modal.run/');
  });

  it('has no jobs or states, and says to use the ASGI app URL', () => {
    const endpoints = ServiceEndpoints.fromBaseUrl(hosts.generate);
    expect(() => endpoints.submitJob('generate')).toThrow(/jobs need path routing.*ASGI app/);
    expect(() => endpoints.job(jobId)).toThrow(EndpointError);
    expect(() => endpoints.statePreview(stateId)).toThrow(/state previews need path routing/);
  });
});

describe('URL validation', () => {
  it.each([
    ['ftp://example.com', /must be http or https/],
    ['not a url', /not a valid URL/],
    ['http://example.com/?x=1', /query string/],
  ])('rejects %s', (given, message) => {
    expect(() => ServiceEndpoints.fromBaseUrl(given)).toThrow(message);
  });

  it('rejects user info without echoing it', () => {
    const error = (() => {
      try {
        ServiceEndpoints.fromBaseUrl('https://user:hunter2@example.com');
      } catch (caught) {
        return caught as Error;
      }
    })();
    expect(error?.message).toMatch(/must not contain a user name or password/);
    expect(error?.message).not.toContain('hunter2');
  });

  it('reads TRELLIS2_API_URL when no base URL is given, and says how to set it when missing', () => {
    expect(resolveBaseUrl(undefined, { TRELLIS2_API_URL: ' http://127.0.0.1:1 ' })).toBe('http://127.0.0.1:1');
    expect(resolveBaseUrl('http://explicit', { TRELLIS2_API_URL: 'http://env' })).toBe('http://explicit');
    expect(() => resolveBaseUrl(undefined, {})).toThrow(/pass \{ baseUrl \} or set TRELLIS2_API_URL/);
  });
});
