import fs from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { tempDir } from './helpers';

// The venv location is fixed by the repository layout; point it somewhere empty for this file only.
vi.mock('../src/paths', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../src/paths')>()),
  venvPython: '/nonexistent/trellis-test/.venv/bin/python',
}));

const { randomCredentials, startLocalService } = await import('../src/local-service');

describe('startLocalService', () => {
  it('refuses clearly, before starting anything, when the Python environment is missing', async () => {
    const workDir = await tempDir();
    await expect(startLocalService({ workDir, port: 1 })).rejects.toThrow(
      'The gpu-modal Python environment is missing. Run `npm run setup`.',
    );
    expect(fs.readdirSync(workDir)).toEqual([]); // no log, no store: nothing was spawned
  });
});

describe('randomCredentials', () => {
  it('are fresh per call and shaped like Modal proxy-auth tokens', () => {
    const a = randomCredentials();
    const b = randomCredentials();
    expect(a.modalKey).toMatch(/^wk-local-[0-9a-f]{24}$/);
    expect(a.modalSecret).toMatch(/^ws-local-[0-9a-f]{48}$/);
    expect(a.modalKey).not.toBe(b.modalKey);
    expect(a.modalSecret).not.toBe(b.modalSecret);
  });
});

