import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectionOptions, temporalSettingsFromEnv, unreachableTemporalMessage } from '../src/temporal-config';

const tempDirs: string[] = [];
afterEach(async () => {
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function certFiles(): Promise<{ cert: string; key: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'worker-tls-'));
  tempDirs.push(dir);
  const cert = path.join(dir, 'client.pem');
  const key = path.join(dir, 'client.key');
  fs.writeFileSync(cert, '-----BEGIN CERTIFICATE-----\ncert-bytes\n-----END CERTIFICATE-----\n');
  fs.writeFileSync(key, '-----BEGIN PRIVATE KEY-----\nkey-bytes\n-----END PRIVATE KEY-----\n');
  return { cert, key };
}

describe('temporalSettingsFromEnv', () => {
  it('defaults to a local dev server: 127.0.0.1:7233, namespace default, no TLS, no key', () => {
    const settings = temporalSettingsFromEnv({});
    expect(settings).toEqual({ address: '127.0.0.1:7233', namespace: 'default', apiKey: undefined, tls: undefined });
  });

  it('reads only the given env object, not process.env', () => {
    const previous = process.env.TEMPORAL_ADDRESS;
    process.env.TEMPORAL_ADDRESS = 'elsewhere:1';
    try {
      expect(temporalSettingsFromEnv({}).address).toBe('127.0.0.1:7233');
    } finally {
      if (previous === undefined) delete process.env.TEMPORAL_ADDRESS;
      else process.env.TEMPORAL_ADDRESS = previous;
    }
  });

  it('takes address, namespace and API key as given (Temporal Cloud)', () => {
    const settings = temporalSettingsFromEnv({
      TEMPORAL_ADDRESS: 'eu-west-1.aws.api.temporal.io:7233',
      TEMPORAL_NAMESPACE: 'shop.a1b2c',
      TEMPORAL_API_KEY: 'secret-key',
      UNRELATED: 'ignored',
    });
    expect(settings).toEqual({
      address: 'eu-west-1.aws.api.temporal.io:7233',
      namespace: 'shop.a1b2c',
      apiKey: 'secret-key',
      tls: undefined,
    });
  });

  it('TEMPORAL_TLS accepts true/false/1/0', () => {
    expect(temporalSettingsFromEnv({ TEMPORAL_TLS: 'true' }).tls).toBe(true);
    expect(temporalSettingsFromEnv({ TEMPORAL_TLS: '1' }).tls).toBe(true);
    expect(temporalSettingsFromEnv({ TEMPORAL_TLS: 'false' }).tls).toBe(false);
    expect(temporalSettingsFromEnv({ TEMPORAL_TLS: '0' }).tls).toBe(false);
  });

  it('invalid values are an error that names the variable', () => {
    for (const [name, value] of [
      ['TEMPORAL_TLS', 'yes'],
      ['TEMPORAL_TLS', 'TRUE'],
      ['TEMPORAL_ADDRESS', ''],
      ['TEMPORAL_NAMESPACE', ''],
      ['TEMPORAL_API_KEY', ''],
    ] as const) {
      expect(() => temporalSettingsFromEnv({ [name]: value }), `${name}=${value}`).toThrow(
        new RegExp(`^Invalid Temporal settings in the environment: ${name}: `),
      );
    }
  });

  it('mTLS needs both the certificate and the key path', async () => {
    const { cert, key } = await certFiles();
    const message = 'Set both TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH for mTLS, or neither.';
    expect(() => temporalSettingsFromEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: cert })).toThrow(message);
    expect(() => temporalSettingsFromEnv({ TEMPORAL_TLS_CLIENT_KEY_PATH: key })).toThrow(message);
  });

  it('with both paths, reads the files into a client certificate pair', async () => {
    const { cert, key } = await certFiles();
    const settings = temporalSettingsFromEnv({
      TEMPORAL_ADDRESS: 'shop.a1b2c.tmprl.cloud:7233',
      TEMPORAL_TLS_CLIENT_CERT_PATH: cert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: key,
      TEMPORAL_TLS_SERVER_NAME: 'shop.a1b2c.tmprl.cloud',
    });
    expect(settings.tls).toEqual({
      clientCertPair: { crt: fs.readFileSync(cert), key: fs.readFileSync(key) },
      serverNameOverride: 'shop.a1b2c.tmprl.cloud',
    });
    const pair = (settings.tls as { clientCertPair: { crt: Buffer; key: Buffer } }).clientCertPair;
    expect(pair.crt.toString()).toContain('cert-bytes');
    expect(pair.key.toString()).toContain('key-bytes');
  });

  it('a missing certificate file is an error naming the file', async () => {
    const { key } = await certFiles();
    const missing = path.join(path.dirname(key), 'nope.pem');
    expect(() => temporalSettingsFromEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: missing, TEMPORAL_TLS_CLIENT_KEY_PATH: key })).toThrow(missing);
  });

  it('a server name override is kept for server-only TLS, and dropped when TLS is off', () => {
    expect(temporalSettingsFromEnv({ TEMPORAL_TLS: 'true', TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' }).tls).toEqual({
      serverNameOverride: 'temporal.internal',
    });
    expect(temporalSettingsFromEnv({ TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' }).tls).toEqual({
      serverNameOverride: 'temporal.internal',
    });
    expect(temporalSettingsFromEnv({ TEMPORAL_TLS: 'false', TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' }).tls).toBe(false);
  });
});

describe('connectionOptions', () => {
  it('a plain local connection carries only the address', () => {
    expect(connectionOptions(temporalSettingsFromEnv({}))).toEqual({ address: '127.0.0.1:7233' });
  });

  it('passes the API key and TLS settings through, and leaves the namespace to the client', () => {
    expect(connectionOptions({ address: 'cloud:7233', namespace: 'ns', apiKey: 'k', tls: true })).toEqual({
      address: 'cloud:7233',
      apiKey: 'k',
      tls: true,
    });
    // TLS explicitly off must survive (it is falsy, but not absent).
    expect(connectionOptions({ address: 'a:1', namespace: 'ns', tls: false })).toEqual({ address: 'a:1', tls: false });
    const tls = { clientCertPair: { crt: Buffer.from('c'), key: Buffer.from('k') } };
    expect(connectionOptions({ address: 'a:1', namespace: 'ns', tls }).tls).toBe(tls);
  });
});

describe('unreachableTemporalMessage', () => {
  it('names the address, namespace and reason, and says how to fix it', () => {
    const settings = temporalSettingsFromEnv({ TEMPORAL_ADDRESS: '10.0.0.5:7233', TEMPORAL_NAMESPACE: 'prod' });
    const message = unreachableTemporalMessage(settings, new Error('connect ECONNREFUSED 10.0.0.5:7233'));
    expect(message).toMatch(/^Cannot reach Temporal at 10\.0\.0\.5:7233 \(namespace prod\): connect ECONNREFUSED 10\.0\.0\.5:7233\n/);
    expect(message).toContain('`npm run trellis -- dev`');
    expect(message).toContain('TEMPORAL_ADDRESS');
    expect(message).toContain('TEMPORAL_API_KEY');
  });

  it('accepts non-Error reasons', () => {
    expect(unreachableTemporalMessage(temporalSettingsFromEnv({}), 'timed out')).toContain('127.0.0.1:7233 (namespace default): timed out');
  });
});
