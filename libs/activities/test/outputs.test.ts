import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  assetDir,
  catalogReportPaths,
  findReusableOutput,
  glbPath,
  inputHashOf,
  manifestPath,
  OutputPathError,
  previewPath,
  openOutputStore,
  readOutputRecord,
  sha256Hex,
  writeOutputRecord,
  type AssetPlace,
} from '../src/files';
import { tempDir } from './helpers';

describe('output layout', () => {
  it('builds the documented paths', () => {
    expect(assetDir('/out', 'spring-2025', 'MUG-1')).toBe('/out/spring-2025/MUG-1');
    expect(glbPath('/out', 'spring-2025', 'MUG-1', 'fast')).toBe('/out/spring-2025/MUG-1/fast.glb');
    expect(previewPath('/out', 'spring-2025', 'MUG-1')).toBe('/out/spring-2025/MUG-1/preview.mp4');
    expect(manifestPath('/out', 'spring-2025', 'MUG-1')).toBe('/out/spring-2025/MUG-1/manifest.json');
    expect(catalogReportPaths('/out', 'spring-2025')).toEqual({ json: '/out/spring-2025/report.json', csv: '/out/spring-2025/report.csv' });
  });

  it('refuses names that could escape the output folder or are not valid', () => {
    expect(() => assetDir('/out', '../etc', 'MUG-1')).toThrow(OutputPathError);
    // SKUs are any text: ones that look like paths get a folder of their own inside the catalog's folder.
    expect(assetDir('/out', 'spring', '../../etc')).toMatch(/^\/out\/spring\/etc-[0-9a-f]{12}$/);
    expect(assetDir('/out', 'spring', 'a/b')).toMatch(/^\/out\/spring\/a-b-[0-9a-f]{12}$/);
    expect(assetDir('/out', 'spring', '..')).toMatch(/^\/out\/spring\/sku-[0-9a-f]{12}$/);
    expect(() => assetDir('/out', 'spring', ' MUG ')).toThrow(/surrounding spaces/);
    expect(() => assetDir('/out', 'spring', 'line\nbreak')).toThrow(/control characters/);
    expect(() => glbPath('/out', 'spring', 'MUG', '../x')).toThrow(/preset name/);
    expect(() => catalogReportPaths('/out', 'Spring')).toThrow(/catalog id "Spring"/);
  });
});

describe('input hashes', () => {
  it('do not depend on key order, and change with any value', () => {
    const a = inputHashOf({ imageSha256: 'abc', seed: 42, sampler: { steps: 12, guidance: 7.5 }, presets: ['fast', 'quality'] });
    const b = inputHashOf({ presets: ['fast', 'quality'], sampler: { guidance: 7.5, steps: 12 }, seed: 42, imageSha256: 'abc' });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(inputHashOf({ imageSha256: 'abc', seed: 43, sampler: { steps: 12, guidance: 7.5 }, presets: ['fast', 'quality'] })).not.toBe(a);
    expect(inputHashOf({ imageSha256: 'abc', seed: 42, sampler: { steps: 12, guidance: 7.5 }, presets: ['quality', 'fast'] })).not.toBe(a);
  });
});

describe('reuse records', () => {
  async function assetWithOutput(content = 'glb bytes') {
    const root = await tempDir();
    const dir = path.join(root, 'cat', 'MUG-1');
    const asset: AssetPlace = { store: openOutputStore(root), key: 'cat/MUG-1' };
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'fast.glb'), content);
    const onDisk = { bytes: Buffer.byteLength(content), sha256: sha256Hex(content) };
    await writeOutputRecord(asset, 'fast', {
      inputHash: 'hash-1',
      file: 'fast.glb',
      ...onDisk,
      writtenAt: '2025-01-01T00:00:00.000Z',
      extra: { stateId: 'st_0', stateExpiresAt: null },
    });
    return { dir, asset, onDisk };
  }

  it('round-trips under <assetDir>/.trellis/<name>.json', async () => {
    const { dir, asset, onDisk } = await assetWithOutput();
    const record = await readOutputRecord(asset, 'fast');
    expect(record).toEqual({ inputHash: 'hash-1', file: 'fast.glb', ...onDisk, writtenAt: '2025-01-01T00:00:00.000Z', extra: { stateId: 'st_0', stateExpiresAt: null } });
    expect(JSON.parse(await readFile(path.join(dir, '.trellis', 'fast.json'), 'utf8'))).toEqual(record);
    expect(await readOutputRecord(asset, 'balanced')).toBeUndefined();
  });

  it('reuses only when the input hash matches and the file is intact', async () => {
    const { asset, onDisk } = await assetWithOutput();
    expect(await findReusableOutput(asset, 'fast', 'hash-1')).toEqual({ file: 'fast.glb', ...onDisk, reused: true });
    expect(await findReusableOutput(asset, 'fast', 'hash-2')).toBeUndefined();
    expect(await findReusableOutput(asset, 'quality', 'hash-1')).toBeUndefined();
  });

  it('a corrupted, truncated or missing output is not reused', async () => {
    const { dir, asset } = await assetWithOutput('glb bytes');
    await writeFile(path.join(dir, 'fast.glb'), 'glb bytez'); // same size, different bytes
    expect(await findReusableOutput(asset, 'fast', 'hash-1')).toBeUndefined();
    await writeFile(path.join(dir, 'fast.glb'), 'glb'); // partial
    expect(await findReusableOutput(asset, 'fast', 'hash-1')).toBeUndefined();
    await rm(path.join(dir, 'fast.glb'));
    expect(await findReusableOutput(asset, 'fast', 'hash-1')).toBeUndefined();
  });

  it('a damaged record is treated as no record (the work is redone)', async () => {
    const { dir, asset } = await assetWithOutput();
    await writeFile(path.join(dir, '.trellis', 'fast.json'), '{"inputHash": "hash-1", "fi');
    expect(await readOutputRecord(asset, 'fast')).toBeUndefined();
    expect(await findReusableOutput(asset, 'fast', 'hash-1')).toBeUndefined();
    await writeFile(path.join(dir, '.trellis', 'fast.json'), JSON.stringify({ inputHash: 'hash-1', file: '../../elsewhere', bytes: 1, sha256: 'a'.repeat(64), writtenAt: 'x' }));
    expect(await findReusableOutput(asset, 'fast', 'hash-1')).toBeUndefined();
  });

  it('refuses bad record names and records that point outside the asset folder', async () => {
    const asset: AssetPlace = { store: openOutputStore(await tempDir()), key: 'cat/MUG-1' };
    const record = { inputHash: 'h', file: 'fast.glb', bytes: 1, sha256: 'a'.repeat(64), writtenAt: 'now' };
    await expect(writeOutputRecord(asset, '../x', record)).rejects.toThrow(OutputPathError);
    await expect(writeOutputRecord(asset, 'fast', { ...record, file: '../x.glb' })).rejects.toThrow(/must be inside the asset folder/);
    await expect(writeOutputRecord(asset, 'fast', { ...record, sha256: 'nope' })).rejects.toThrow();
  });
});
