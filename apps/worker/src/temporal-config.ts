// How workers and clients reach Temporal: a local dev server, a self-hosted cluster, or Temporal Cloud
// (API key, or mTLS certificates). Read from the environment only, so nothing secret is ever passed on
// a command line or stored in a workflow.
import fs from 'node:fs';
import type { ConnectionOptions } from '@temporalio/client';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { z } from 'zod';

const booleanFlag = z.enum(['1', '0', 'true', 'false']).transform((value) => value === '1' || value === 'true');

export const TemporalEnv = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS: booleanFlag.optional(),
  TEMPORAL_TLS_CLIENT_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_CLIENT_KEY_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
});
export type TemporalEnv = z.infer<typeof TemporalEnv>;

export interface TemporalSettings {
  address: string;
  namespace: string;
  apiKey?: string;
  tls?: { clientCertPair?: { crt: Buffer; key: Buffer }; serverNameOverride?: string } | boolean;
}

export function temporalSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const parsed = TemporalEnv.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new Error(`Invalid Temporal settings in the environment: ${issues}`);
  }
  const e = parsed.data;
  const certPath = e.TEMPORAL_TLS_CLIENT_CERT_PATH;
  const keyPath = e.TEMPORAL_TLS_CLIENT_KEY_PATH;
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw new Error('Set both TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH for mTLS, or neither.');
  }
  let tls: TemporalSettings['tls'];
  if (certPath && keyPath) {
    tls = {
      clientCertPair: { crt: fs.readFileSync(certPath), key: fs.readFileSync(keyPath) },
      serverNameOverride: e.TEMPORAL_TLS_SERVER_NAME,
    };
  } else if (e.TEMPORAL_TLS_SERVER_NAME !== undefined && e.TEMPORAL_TLS !== false) {
    // Server-only TLS with a name override (a server name implies TLS, as in the Temporal CLI).
    tls = { serverNameOverride: e.TEMPORAL_TLS_SERVER_NAME };
  } else if (e.TEMPORAL_TLS !== undefined) {
    tls = e.TEMPORAL_TLS;
  }
  // With an API key (Temporal Cloud) the SDK turns TLS on by itself.
  return { address: e.TEMPORAL_ADDRESS, namespace: e.TEMPORAL_NAMESPACE, apiKey: e.TEMPORAL_API_KEY, tls };
}

export function connectionOptions(settings: TemporalSettings): ConnectionOptions & NativeConnectionOptions {
  return {
    address: settings.address,
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
    ...(settings.tls !== undefined ? { tls: settings.tls } : {}),
  } as ConnectionOptions & NativeConnectionOptions;
}

/** A message that tells the user what to do when Temporal cannot be reached. */
export function unreachableTemporalMessage(settings: TemporalSettings, error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error);
  return (
    `Cannot reach Temporal at ${settings.address} (namespace ${settings.namespace}): ${reason}\n` +
    'Start a local one with `npm run trellis -- dev`, or point TEMPORAL_ADDRESS (and TEMPORAL_API_KEY or ' +
    'TEMPORAL_TLS_CLIENT_CERT_PATH/KEY_PATH for Temporal Cloud) at your cluster.'
  );
}
