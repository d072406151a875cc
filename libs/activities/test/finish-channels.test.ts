// The finish activity's file side: channel files written beside the GLBs, reused by input hash, removed
// when no longer deliverable; and their columns in report.csv.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { builtInChannels, ChannelProfile, type ChannelFileReport, type OutputFile, type ReportRow } from '@trellis/contracts';
import { validateGlb } from '@trellis/finishing';
import { syntheticGlb } from '@trellis/finishing/testing';
import { describe, expect, it } from 'vitest';
import { finishChannels } from '../src/index';
import { assetDir, sha256Hex } from '../src/files';
import { reportCsv } from '../src/report/report-csv';
import { tempDir } from './helpers';

async function assetWithBalancedGlb() {
  const outDir = await tempDir();
  const dir = assetDir(outDir, 'shop', 'chair, oak');
  await mkdir(dir, { recursive: true });
  const glb = await syntheticGlb({ triangles: 60_000, textureSize: 1024 });
  await writeFile(path.join(dir, 'balanced.glb'), glb);
  const hashed = { bytes: glb.byteLength, sha256: sha256Hex(glb) };
  const glbs: Record<string, OutputFile> = { balanced: { file: 'balanced.glb', bytes: hashed.bytes, sha256: hashed.sha256, reused: false } };
  return { outDir, dir, glbs, base: { catalogId: 'shop', sku: 'chair, oak', outDir, glbs } };
}

describe('finishChannels', () => {
  it('writes each channel file under channels/, validator-clean, and reuses it by input hash', async () => {
    const { dir, base } = await assetWithBalancedGlb();
    const channels = [
      { name: 'web', profile: builtInChannels.web },
      { name: 'amazon', profile: builtInChannels.amazon },
      { name: 'print', profile: ChannelProfile.parse({ ...builtInChannels.web, source_preset: 'quality' }) },
    ];
    const size = { width: 45, height: 90, depth: 40, unit: 'cm' as const };
    const first = await finishChannels({ ...base, channels, size });
    expect(Object.keys(first.channels)).toEqual(['web', 'amazon', 'print']);
    for (const name of ['web', 'amazon']) {
      const report = first.channels[name]!;
      expect(report).toMatchObject({ channel: name, sourcePreset: 'balanced', delivered: true, file: `channels/${name}.glb`, reused: false, budgetMet: true });
      const bytes = await readFile(path.join(dir, report.file!));
      expect(bytes.byteLength).toBe(report.bytes);
      expect((await validateGlb(bytes)).errors).toBe(0);
      expect(report.placement).toMatchObject({ scale: 'real-world' });
      expect(report.placement!.dimensions[1]).toBeCloseTo(0.9, 1);
    }
    expect(first.channels.print).toMatchObject({ delivered: false, reason: 'no quality GLB for this SKU to make it from' });
    expect(existsSync(path.join(dir, 'channels/print.glb'))).toBe(false);

    const again = await finishChannels({ ...base, channels, size });
    expect(again.channels.web).toEqual({ ...first.channels.web, reused: true });
    expect(again.channels.amazon!.reused).toBe(true);

    // Another size is another input: remade.
    const resized = await finishChannels({ ...base, channels: channels.slice(0, 1), size: { ...size, unit: 'in' } });
    expect(resized.channels.web!.reused).toBe(false);
    expect(resized.channels.web!.sha256).not.toBe(first.channels.web!.sha256);
  }, 120_000);

  it('a channel that can no longer be delivered loses the file an earlier run made', async () => {
    const { dir, base } = await assetWithBalancedGlb();
    const made = await finishChannels({ ...base, channels: [{ name: 'web', profile: builtInChannels.web }] });
    expect(made.channels.web!.delivered).toBe(true);
    expect(existsSync(path.join(dir, 'channels/web.glb'))).toBe(true);
    const tight = ChannelProfile.parse({ ...builtInChannels.web, max_bytes: 10_000 });
    const refused = await finishChannels({ ...base, channels: [{ name: 'web', profile: tight }] });
    expect(refused.channels.web).toMatchObject({ delivered: false, budgetMet: false });
    expect(refused.channels.web!.reason).toMatch(/over the channel's 10000/);
    expect(existsSync(path.join(dir, 'channels/web.glb'))).toBe(false);
  }, 120_000);
});

describe('report.csv channel columns', () => {
  const usage = { gpuSeconds: 1, estimatedCostUsd: 0.001, costBasis: 'measured' as const };
  const report = (channel: string, delivered: boolean, extra: Partial<ChannelFileReport> = {}): ChannelFileReport => ({
    channel, sourcePreset: 'balanced', delivered, bytes: 1234, triangles: 100_000, textureSizes: [2048, 1024], compression: 'meshopt',
    maxBytes: 5_000_000, maxTriangles: 100_000, budgetMet: delivered, stepDowns: [], validator: { errors: 0, warnings: 0, messages: [] },
    reused: false, ...(delivered ? { file: `channels/${channel}.glb` } : {}), ...extra,
  });

  it('are added only when a row has channel files', () => {
    const plain: ReportRow = { row: 1, sku: 'a', status: 'done', glbs: {}, usage };
    expect(reportCsv([plain]).split('\r\n')[0]).not.toMatch(/web_/);

    const sized: ReportRow = {
      ...plain,
      poster: { file: 'poster.webp', bytes: 10, sha256: 'c'.repeat(64), reused: false },
      size: { width: 45, height: 90, unit: 'cm' },
      channels: {
        web: report('web', true, { stepDowns: ['texture 2048 -> 1024 px (6000000 bytes over 5000000)'], placement: { scale: 'real-world', factor: 1, dimensions: [0.45, 0.9, 0.4] } }),
        amazon: report('amazon', false, { reason: 'the Khronos glTF validator found 1 error(s)', validator: { errors: 1, warnings: 0, messages: ['error X'] } }),
      },
    };
    const unsized: ReportRow = { ...plain, row: 2, sku: 'b', channels: { amazon: report('amazon', true) } };
    const [header, first, second] = reportCsv([sized, unsized]).split('\r\n');
    const columns = header!.split(',');
    expect(columns.slice(-20)).toEqual([
      'size', 'scale', 'size_flag', 'poster',
      'web_delivered', 'web_bytes', 'web_triangles', 'web_texture_px', 'web_validator', 'web_budget_met', 'web_step_downs', 'web_reason',
      'amazon_delivered', 'amazon_bytes', 'amazon_triangles', 'amazon_texture_px', 'amazon_validator', 'amazon_budget_met', 'amazon_step_downs', 'amazon_reason',
    ]);
    expect(first).toContain('45 x 90 x ? cm,real-world,,poster.webp,yes,1234,100000,2048,"0 errors, 0 warnings",yes,texture 2048 -> 1024 px (6000000 bytes over 5000000),,no,,100000');
    expect(first).toContain('the Khronos glTF validator found 1 error(s)');
    expect(second).toContain("no size columns: the files keep the model's unit size (amazon requires real-world scale: add width/height/depth columns)");
  });
});
