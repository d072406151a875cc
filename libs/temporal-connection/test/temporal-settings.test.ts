// Every variable the docs name (docs/self-hosting.md) still works, and profile files too.
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { localTemporalSettings, temporalSettingsFromEnv, unreachableTemporalMessage } from '../src';

const tempDirs: string[] = [];
afterEach(async () => {
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'temporal-settings-'));
  tempDirs.push(dir);
  return dir;
}

async function certFiles(): Promise<{ cert: string; key: string; ca: string }> {
  const dir = await tempDir();
  const [cert, key, ca] = ['client.pem', 'client.key', 'ca.pem'].map((name) => path.join(dir, name)) as [string, string, string];
  fs.writeFileSync(cert, '-----BEGIN CERTIFICATE-----\ncert-bytes\n-----END CERTIFICATE-----\n');
  fs.writeFileSync(key, '-----BEGIN PRIVATE KEY-----\nkey-bytes\n-----END PRIVATE KEY-----\n');
  fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nca-bytes\n-----END CERTIFICATE-----\n');
  return { cert, key, ca };
}

/** What envconfig reads a file into (bytes, not a Buffer). */
const fileBytes = (file: string) => Uint8Array.from(fs.readFileSync(file));

describe('without any setting', () => {
  it('is a local dev server: 127.0.0.1:7233, namespace default, only the address on the connection', () => {
    expect(temporalSettingsFromEnv({})).toEqual({ address: '127.0.0.1:7233', namespace: 'default', connection: { address: '127.0.0.1:7233' } });
  });

  it('reads only the given variables, not process.env', () => {
    const previous = process.env.TEMPORAL_ADDRESS;
    process.env.TEMPORAL_ADDRESS = 'elsewhere:1';
    try {
      expect(temporalSettingsFromEnv({}).address).toBe('127.0.0.1:7233');
    } finally {
      if (previous === undefined) delete process.env.TEMPORAL_ADDRESS;
      else process.env.TEMPORAL_ADDRESS = previous;
    }
  });
});

describe('each documented variable', () => {
  it('TEMPORAL_ADDRESS', () => {
    const settings = temporalSettingsFromEnv({ TEMPORAL_ADDRESS: '10.0.0.5:7233' });
    expect(settings.address).toBe('10.0.0.5:7233');
    expect(settings.connection.address).toBe('10.0.0.5:7233');
  });

  it('TEMPORAL_NAMESPACE', () => {
    expect(temporalSettingsFromEnv({ TEMPORAL_NAMESPACE: 'shop.a1b2c' }).namespace).toBe('shop.a1b2c');
  });

  it('TEMPORAL_API_KEY (which turns TLS on, as Temporal Cloud needs)', () => {
    const { connection } = temporalSettingsFromEnv({ TEMPORAL_API_KEY: 'secret-key' });
    expect(connection.apiKey).toBe('secret-key');
    expect(connection.tls).toBe(true);
  });

  it('TEMPORAL_TLS: true and 1 turn TLS on, false and 0 off', () => {
    for (const on of ['true', '1']) expect(temporalSettingsFromEnv({ TEMPORAL_TLS: on }).connection.tls, on).toMatchObject({});
    for (const off of ['false', '0']) expect(temporalSettingsFromEnv({ TEMPORAL_TLS: off }).connection.tls, off).toBe(false);
  });

  it('TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH: read into the client certificate pair', async () => {
    const { cert, key } = await certFiles();
    const { connection } = temporalSettingsFromEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: cert, TEMPORAL_TLS_CLIENT_KEY_PATH: key });
    expect(connection.tls).toMatchObject({ clientCertPair: { crt: fileBytes(cert), key: fileBytes(key) } });
  });

  it('TEMPORAL_TLS_SERVER_NAME: kept for TLS (a server name implies it), dropped when TLS is off', () => {
    expect(temporalSettingsFromEnv({ TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' }).connection.tls).toMatchObject({ serverNameOverride: 'temporal.internal' });
    expect(temporalSettingsFromEnv({ TEMPORAL_TLS: 'true', TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' }).connection.tls).toMatchObject({
      serverNameOverride: 'temporal.internal',
    });
    expect(temporalSettingsFromEnv({ TEMPORAL_TLS: 'false', TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' }).connection.tls).toBe(false);
  });

  it('TEMPORAL_TLS_SERVER_CA_CERT_PATH: a private CA', async () => {
    const { ca } = await certFiles();
    expect(temporalSettingsFromEnv({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca }).connection.tls).toMatchObject({ serverRootCACertificate: fileBytes(ca) });
  });
});

describe('bad settings: one error naming the variable or file', () => {
  it.each([
    ['TEMPORAL_TLS', 'yes'],
    ['TEMPORAL_TLS', 'TRUE'],
    ['TEMPORAL_ADDRESS', ''],
    ['TEMPORAL_NAMESPACE', ''],
    ['TEMPORAL_API_KEY', ''],
  ])('%s=%j', (name, value) => {
    expect(() => temporalSettingsFromEnv({ [name]: value })).toThrow(new RegExp(`^Invalid Temporal settings in the environment: ${name}: `));
  });

  it('mTLS with only the certificate or only the key', async () => {
    const { cert, key } = await certFiles();
    const message = 'Set both TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH for mTLS, or neither.';
    expect(() => temporalSettingsFromEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: cert })).toThrow(message);
    expect(() => temporalSettingsFromEnv({ TEMPORAL_TLS_CLIENT_KEY_PATH: key })).toThrow(message);
  });

  it('a missing certificate file', async () => {
    const { key } = await certFiles();
    const missing = path.join(path.dirname(key), 'nope.pem');
    expect(() => temporalSettingsFromEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: missing, TEMPORAL_TLS_CLIENT_KEY_PATH: key })).toThrow(missing);
  });

  it('a missing TEMPORAL_CONFIG_FILE', async () => {
    const missing = path.join(await tempDir(), 'temporal.toml');
    expect(() => temporalSettingsFromEnv({ TEMPORAL_CONFIG_FILE: missing })).toThrow(`TEMPORAL_CONFIG_FILE=${missing} does not exist.`);
  });

  it('a TEMPORAL_PROFILE the file does not have', async () => {
    const file = path.join(await tempDir(), 'temporal.toml');
    fs.writeFileSync(file, '[profile.default]\naddress = "a:1"\n');
    expect(() => temporalSettingsFromEnv({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' })).toThrow(/Profile 'prod' not found/);
  });
});

describe('profile files (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE, ~/.config/temporalio/temporal.toml)', () => {
  const toml = [
    '[profile.default]',
    'address = "127.0.0.1:7233"',
    '',
    '[profile.prod]',
    'address = "shop.a1b2c.tmprl.cloud:7233"',
    'namespace = "shop.a1b2c"',
    'api_key = "from-the-file"',
    '',
  ].join('\n');

  it('TEMPORAL_PROFILE picks a profile of TEMPORAL_CONFIG_FILE', async () => {
    const file = path.join(await tempDir(), 'temporal.toml');
    fs.writeFileSync(file, toml);
    const settings = temporalSettingsFromEnv({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' });
    expect(settings).toMatchObject({ address: 'shop.a1b2c.tmprl.cloud:7233', namespace: 'shop.a1b2c', connection: { apiKey: 'from-the-file', tls: true } });
  });

  it('variables override the profile', async () => {
    const file = path.join(await tempDir(), 'temporal.toml');
    fs.writeFileSync(file, toml);
    const settings = temporalSettingsFromEnv({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod', TEMPORAL_NAMESPACE: 'staging' });
    expect(settings).toMatchObject({ address: 'shop.a1b2c.tmprl.cloud:7233', namespace: 'staging' });
  });

  it("the default profile of the user's temporal.toml is read without any variable but HOME", async () => {
    const home = await tempDir();
    fs.mkdirSync(path.join(home, '.config', 'temporalio'), { recursive: true });
    fs.writeFileSync(path.join(home, '.config', 'temporalio', 'temporal.toml'), '[profile.default]\naddress = "10.1.2.3:7233"\n');
    expect(temporalSettingsFromEnv({ HOME: home }).address).toBe('10.1.2.3:7233');
  });

  it('an unknown key in the file is an error, not silently ignored', async () => {
    const file = path.join(await tempDir(), 'temporal.toml');
    fs.writeFileSync(file, '[profile.default]\nadress = "typo:1"\n');
    expect(() => temporalSettingsFromEnv({ TEMPORAL_CONFIG_FILE: file })).toThrow(/adress/);
  });
});

describe('localTemporalSettings', () => {
  it('a dev server: the address and namespace, nothing else', () => {
    expect(localTemporalSettings('127.0.0.1:40001', 'tests')).toEqual({ address: '127.0.0.1:40001', namespace: 'tests', connection: { address: '127.0.0.1:40001' } });
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
