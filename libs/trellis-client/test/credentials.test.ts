import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CredentialsError, resolveCredentials } from '../src/credentials';

let dir: string;
let secretsFile: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-client-credentials-'));
  secretsFile = path.join(dir, 'secrets.json');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const env = { TRELLIS2_MODAL_KEY: 'wk-from-env', TRELLIS2_MODAL_SECRET: 'ws-from-env' };
const writeSecrets = (content: string) => fs.writeFileSync(secretsFile, content);
const fileContent = JSON.stringify({ modal_key: 'wk-from-file', modal_secret: 'ws-from-file' });

describe('resolveCredentials: the seed priority order', () => {
  it('prefers explicit credentials over env and file', () => {
    writeSecrets(fileContent);
    const explicit = { modalKey: 'wk-explicit', modalSecret: 'ws-explicit' };
    expect(resolveCredentials({ explicit, env, secretsFile })).toEqual(explicit);
  });

  it('prefers env over the file', () => {
    writeSecrets(fileContent);
    expect(resolveCredentials({ env, secretsFile })).toEqual({ modalKey: 'wk-from-env', modalSecret: 'ws-from-env' });
  });

  it('falls back to the secrets file', () => {
    writeSecrets(fileContent);
    expect(resolveCredentials({ env: {}, secretsFile })).toEqual({ modalKey: 'wk-from-file', modalSecret: 'ws-from-file' });
  });

  it('lists the three ways when nothing is found', () => {
    const error = catchError(() => resolveCredentials({ env: {}, secretsFile }));
    expect(error).toBeInstanceOf(CredentialsError);
    expect(error.message).toContain('modalKey, modalSecret');
    expect(error.message).toContain('TRELLIS2_MODAL_KEY and TRELLIS2_MODAL_SECRET');
    expect(error.message).toContain(secretsFile);
    expect(error.message).toContain("credentials: 'none'");
  });
});

describe('resolveCredentials: mistakes are reported, secrets never echoed', () => {
  it('names the file when it is not JSON, without quoting it', () => {
    writeSecrets('{"modal_key": wk-leaky-secret-value');
    const error = catchError(() => resolveCredentials({ env: {}, secretsFile }));
    expect(error.message).toContain(`${secretsFile} is not valid JSON`);
    expect(error.message).not.toContain('leaky');
  });

  it('names the file and the missing field when the shape is wrong', () => {
    writeSecrets(JSON.stringify({ modal_key: 'wk-leaky-secret-value' }));
    const error = catchError(() => resolveCredentials({ env: {}, secretsFile }));
    expect(error.message).toContain(`${secretsFile} is malformed`);
    expect(error.message).toContain('modal_secret');
    expect(error.message).not.toContain('leaky');
  });

  it('rejects empty strings in the file', () => {
    writeSecrets(JSON.stringify({ modal_key: ' ', modal_secret: 'ws-x' }));
    expect(() => resolveCredentials({ env: {}, secretsFile })).toThrow(/modal_key must be a non-empty string/);
  });

  it('refuses half an env pair instead of silently using the file', () => {
    writeSecrets(fileContent);
    expect(() => resolveCredentials({ env: { TRELLIS2_MODAL_KEY: 'wk-x' }, secretsFile })).toThrow(
      'TRELLIS2_MODAL_KEY is set but TRELLIS2_MODAL_SECRET is not',
    );
  });

  it('refuses half an explicit pair', () => {
    expect(() => resolveCredentials({ explicit: { modalSecret: 'ws-leaky' }, env, secretsFile })).toThrow(
      'give both modalKey and modalSecret (only modalSecret was given)',
    );
  });
});

function catchError(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}
