// How workers, the CLI (and through it the dashboard) and the tests reach Temporal: a local dev server, a
// self-hosted cluster, or Temporal Cloud (API key, or mTLS certificates). @temporalio/envconfig reads the
// settings: the TEMPORAL_* variables over a profile of a TOML file (TEMPORAL_CONFIG_FILE, else
// ~/.config/temporalio/temporal.toml; TEMPORAL_PROFILE picks the profile), as the Temporal CLI does. This file
// adds what envconfig leaves out: a local default, one clear error per bad variable, and the message that
// says what to do when Temporal cannot be reached. Nothing secret is passed on a command line or stored in
// a workflow.
import fs from 'node:fs';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { z } from 'zod';

export const LOCAL_TEMPORAL_ADDRESS = '127.0.0.1:7233';
export const DEFAULT_NAMESPACE = 'default';

const booleanFlag = z.enum(['1', '0', 'true', 'false']);
const nonEmpty = z.string().min(1);

/**
 * The variables this project documents (docs/self-hosting.md), checked before envconfig reads them: envconfig
 * takes any TEMPORAL_TLS other than `1`/`true` as "off", and an empty address or key as given.
 */
export const TemporalEnv = z.object({
  TEMPORAL_ADDRESS: nonEmpty.optional(),
  TEMPORAL_NAMESPACE: nonEmpty.optional(),
  TEMPORAL_API_KEY: nonEmpty.optional(),
  TEMPORAL_TLS: booleanFlag.optional(),
  TEMPORAL_TLS_CLIENT_CERT_PATH: nonEmpty.optional(),
  TEMPORAL_TLS_CLIENT_KEY_PATH: nonEmpty.optional(),
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: nonEmpty.optional(),
  TEMPORAL_TLS_SERVER_NAME: nonEmpty.optional(),
  TEMPORAL_PROFILE: nonEmpty.optional(),
  TEMPORAL_CONFIG_FILE: nonEmpty.optional(),
});

/** Where to connect, and the options both `Connection.connect` and `NativeConnection.connect` take. */
export interface TemporalSettings {
  address: string;
  namespace: string;
  connection: Pick<NativeConnectionOptions, 'apiKey' | 'tls' | 'metadata'> & { address: string };
}

export class TemporalSettingsError extends Error {
  override name = 'TemporalSettingsError';
}

/** The settings of `env` (default: this process's), over the profile file it points at, if any. */
export function temporalSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const parsed = TemporalEnv.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new TemporalSettingsError(`Invalid Temporal settings in the environment: ${issues}`);
  }
  const { TEMPORAL_TLS_CLIENT_CERT_PATH: certPath, TEMPORAL_TLS_CLIENT_KEY_PATH: keyPath } = parsed.data;
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw new TemporalSettingsError('Set both TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH for mTLS, or neither.');
  }
  const configFile = parsed.data.TEMPORAL_CONFIG_FILE;
  // envconfig takes a missing file for "no profiles"; one named explicitly must be there.
  if (configFile !== undefined && !fs.existsSync(configFile)) {
    throw new TemporalSettingsError(`TEMPORAL_CONFIG_FILE=${configFile} does not exist.`);
  }
  const variables = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  let loaded: ReturnType<typeof loadClientConnectConfig>;
  try {
    loaded = loadClientConnectConfig({ overrideEnvVars: variables, configFileStrict: true });
  } catch (error) {
    throw new TemporalSettingsError(`Cannot read the Temporal settings (TEMPORAL_* variables, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE): ${(error as Error).message}`);
  }
  const { address, apiKey, tls, metadata } = loaded.connectionOptions;
  const namespace = loaded.namespace ?? DEFAULT_NAMESPACE;
  return settingsOf(address ?? LOCAL_TEMPORAL_ADDRESS, namespace, { apiKey, tls, metadata });
}

/** A local dev server (no TLS, no key): the stacks `trellis dev`, the demo and the tests start. */
export function localTemporalSettings(address: string, namespace: string = DEFAULT_NAMESPACE): TemporalSettings {
  return settingsOf(address, namespace, {});
}

function settingsOf(address: string, namespace: string, options: Omit<TemporalSettings['connection'], 'address'>): TemporalSettings {
  // Absent options stay absent: `tls: false` (explicitly off) is kept, an undefined one is dropped.
  const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  return { address, namespace, connection: { address, ...given } };
}

/** A message that tells the user what to do when Temporal cannot be reached. */
export function unreachableTemporalMessage(settings: Pick<TemporalSettings, 'address' | 'namespace'>, error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error);
  return (
    `Cannot reach Temporal at ${settings.address} (namespace ${settings.namespace}): ${reason}\n` +
    'Start a local one with `npm run trellis -- dev`, or point TEMPORAL_ADDRESS (and TEMPORAL_API_KEY or ' +
    'TEMPORAL_TLS_CLIENT_CERT_PATH/KEY_PATH for Temporal Cloud) at your cluster, or TEMPORAL_PROFILE at a profile ' +
    'of your temporal.toml.'
  );
}
