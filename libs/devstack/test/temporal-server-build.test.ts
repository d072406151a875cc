import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findPostgresBinDir, findTemporalServerBuild, temporalServerBuildDir } from '../src/temporal-server-build';
import { tempDir } from './helpers';

describe('the Temporal server build in the cache', () => {
  it('is found only once its build finished (the stamp is written last), under the pinned version', async () => {
    const cache = await tempDir('server-cache-');
    const dir = temporalServerBuildDir('v9.9.9', cache);
    fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'bin', 'temporal-server'), '');
    expect(findTemporalServerBuild('v9.9.9', cache)).toBeUndefined();
    fs.writeFileSync(path.join(dir, '.complete'), 'go.temporal.io/server@v9.9.9\n');
    expect(findTemporalServerBuild('v9.9.9', cache)).toMatchObject({ version: 'v9.9.9', server: path.join(dir, 'bin', 'temporal-server') });
    expect(findTemporalServerBuild('v9.9.8', cache)).toBeUndefined();
  });
});

describe('findPostgresBinDir', () => {
  it('takes the newest major that has initdb, and nothing when none is installed', async () => {
    const root = await tempDir('postgresql-');
    expect(findPostgresBinDir(root)).toBeUndefined();
    for (const major of ['9', '15', '16']) fs.mkdirSync(path.join(root, major, 'bin'), { recursive: true });
    for (const major of ['9', '15']) fs.writeFileSync(path.join(root, major, 'bin', 'initdb'), '');
    expect(findPostgresBinDir(root)).toBe(path.join(root, '15', 'bin'));
    expect(findPostgresBinDir(path.join(root, 'missing'))).toBeUndefined();
  });
});
