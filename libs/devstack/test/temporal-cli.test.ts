import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { findTemporalCli, goIsRecentEnough } from '../src/temporal-cli';
import { tempDir } from './helpers';

function writeFile(file: string, mode: number): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '#!/bin/sh\necho temporal\n');
  fs.chmodSync(file, mode);
  return file;
}

describe('findTemporalCli with TEMPORAL_CLI', () => {
  it('an executable TEMPORAL_CLI wins', async () => {
    const cli = writeFile(path.join(await tempDir(), 'my-temporal'), 0o755);
    expect(findTemporalCli({ TEMPORAL_CLI: cli })).toEqual({ path: cli, source: 'TEMPORAL_CLI' });
  });

  it('a TEMPORAL_CLI that is not an executable file is an error that names it and says what to do', async () => {
    const dir = await tempDir();
    const notExecutable = writeFile(path.join(dir, 'temporal.txt'), 0o644);
    for (const bad of [notExecutable, dir, path.join(dir, 'missing')]) {
      expect(() => findTemporalCli({ TEMPORAL_CLI: bad }), bad).toThrow(
        `TEMPORAL_CLI=${bad} is not an executable file. Point it at a temporal binary, or unset it.`,
      );
    }
  });
});

// The cache folder is fixed when the module loads (from XDG_CACHE_HOME), so these tests load a fresh
// copy of the module against a temporary cache and never see this machine's real one.
describe('findTemporalCli in the user cache', () => {
  let cache: string;
  let mod: typeof import('../src/temporal-cli');

  beforeEach(async () => {
    cache = await tempDir('devstack-cache-');
    vi.stubEnv('XDG_CACHE_HOME', cache);
    vi.stubEnv('TEMPORAL_CLI', '');
    vi.resetModules();
    mod = await import('../src/temporal-cli');
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('looks under $XDG_CACHE_HOME/trellis3d', () => {
    expect(mod.goBuildDir).toBe(path.join(cache, 'trellis3d', `temporal-cli-${mod.TEMPORAL_CLI_VERSION}`));
    expect(mod.sdkDownloadDir).toBe(path.join(cache, 'trellis3d', 'temporal-sdk-download'));
  });

  it('finds nothing in an empty cache; requireTemporalCli then says how to set it up', () => {
    expect(mod.findTemporalCli({})).toBeUndefined();
    expect(() => mod.requireTemporalCli()).toThrow(/not set up\. Run `npm run setup`.*or set TEMPORAL_CLI/);
  });

  it('priority: TEMPORAL_CLI, then the go-built binary, then the SDK download', async () => {
    const downloaded = writeFile(path.join(mod.sdkDownloadDir, 'temporal-cli-1.5.1'), 0o755);
    expect(mod.findTemporalCli({})).toEqual({ path: downloaded, source: 'SDK download' });

    const built = writeFile(path.join(mod.goBuildDir, 'temporal'), 0o755);
    expect(mod.findTemporalCli({})).toEqual({ path: built, source: 'go install' });
    expect(mod.requireTemporalCli()).toEqual({ path: built, source: 'go install' });

    const fromEnv = writeFile(path.join(await tempDir(), 'temporal'), 0o755);
    expect(mod.findTemporalCli({ TEMPORAL_CLI: fromEnv })).toEqual({ path: fromEnv, source: 'TEMPORAL_CLI' });
  });

  it('skips files that are not executable or not named temporal*', () => {
    writeFile(path.join(mod.goBuildDir, 'temporal'), 0o644);
    writeFile(path.join(mod.sdkDownloadDir, 'temporal-not-executable'), 0o644);
    writeFile(path.join(mod.sdkDownloadDir, 'other-tool'), 0o755);
    fs.mkdirSync(path.join(mod.sdkDownloadDir, 'temporal-dir'));
    expect(mod.findTemporalCli({})).toBeUndefined();
  });
});

describe('goIsRecentEnough', () => {
  it('needs Go 1.25 or newer', () => {
    expect(goIsRecentEnough(undefined)).toBe(false);
    expect(goIsRecentEnough([1, 24])).toBe(false);
    expect(goIsRecentEnough([1, 25])).toBe(true);
    expect(goIsRecentEnough([1, 26])).toBe(true);
    expect(goIsRecentEnough([1, 100])).toBe(true);
    expect(goIsRecentEnough([2, 0])).toBe(true);
    expect(goIsRecentEnough([0, 99])).toBe(false);
  });
});
