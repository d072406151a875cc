import { describe, expect, it } from 'vitest';
import { ConvertCatalogInput, WebhookDelivery, assetWebhookId, catalogWebhookId } from '../src/index';

const payload = {
  catalogId: 'spring',
  status: 'completed',
  counts: { waiting: 0, running: 0, done: 1, reused: 0, failed: 0, cancelled: 0 },
  usage: { gpuSeconds: 1, estimatedCostUsd: 0.01, costBasis: 'measured' },
  reportJsonPath: '/o/spring/report.json',
  reportCsvPath: '/o/spring/report.csv',
};

describe('webhook contracts', () => {
  it('ids are stable per event and safe as header values', () => {
    expect(catalogWebhookId('spring', 'run-1')).toBe(catalogWebhookId('spring', 'run-1'));
    expect(assetWebhookId('spring', 'MUG 1/ä', 'run-1')).toMatch(/^[A-Za-z0-9_.:-]+$/);
  });

  it('a delivery needs an http(s) URL, a safe id and the payload of its event type; it has no secret field', () => {
    const ok = { url: 'https://hooks.example.com/x', eventType: 'catalog.finished', webhookId: 'msg_1', occurredAt: '2026-01-01T00:00:00.000Z', payload };
    expect(WebhookDelivery.parse(ok)).toEqual(ok);
    expect(WebhookDelivery.safeParse({ ...ok, url: 'file:///etc/passwd' }).success).toBe(false);
    expect(WebhookDelivery.safeParse({ ...ok, webhookId: 'has space\r\n' }).success).toBe(false);
    expect(WebhookDelivery.safeParse({ ...ok, eventType: 'asset.finished' }).success).toBe(false);
    expect(Object.keys(WebhookDelivery.parse({ ...ok, secret: 'whsec_x' }))).not.toContain('secret');
  });

  it('the catalog input takes notify settings (assets off by default)', () => {
    const base = {
      catalogId: 'spring',
      catalogPath: '/c.csv',
      outDir: '/o',
      settings: { presets: [{ name: 'fast', settings: {} }], defaultPresetNames: ['fast'], pipelineType: '512', seed: 1, sampler: {} },
    };
    expect(ConvertCatalogInput.parse({ ...base, notify: { url: 'http://127.0.0.1:9/x' } }).notify).toEqual({ url: 'http://127.0.0.1:9/x', assets: false });
    expect(ConvertCatalogInput.parse(base).notify).toBeUndefined();
  });
});
