// docker-compose.temporal.yml is the one description of the self-hosted cluster: the server version,
// the database settings, the schema steps and the namespace/search-attribute steps. The PostgreSQL
// harness (temporal-cluster.ts) and set-up (which builds that server version) read them from here, so
// the tested cluster and the compose file cannot drift apart.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { LocalStackError } from './managed-process';
import { repoRoot } from './paths';

export const composeFile = path.join(repoRoot, 'docker-compose.temporal.yml');

const ComposeService = z.object({
  image: z.string(),
  environment: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).optional(),
  command: z.array(z.string()).optional(),
});
const ComposeFile = z.object({
  services: z.object({
    postgresql: ComposeService,
    'temporal-schema': ComposeService,
    temporal: ComposeService,
    'temporal-setup': ComposeService,
  }),
});

export interface ComposeTopology {
  /** The Go module version of the server image's tag: `temporalio/server:1.29.1` → `v1.29.1`. */
  serverVersion: string;
  /** The `postgresql` service's environment (POSTGRES_USER, POSTGRES_PASSWORD), interpolated. */
  postgresEnv: Record<string, string>;
  /** The `temporal-schema` service: its shell script (compose's `$$` unescaped) and environment. */
  schemaScript: string;
  schemaEnv: Record<string, string>;
  /** The `temporal` service's environment (DB, POSTGRES_SEEDS, POSTGRES_USER, POSTGRES_PWD, ...). */
  serverEnv: Record<string, string>;
  /** The `temporal-setup` service: the namespace and search attributes script, and its environment. */
  setupScript: string;
  setupEnv: Record<string, string>;
}

/**
 * Compose's variable interpolation, the part the file uses: `${NAME:-default}`, `${NAME-default}`,
 * `${NAME}`, `$NAME`, and `$$` for a literal `$` (left for the shell).
 */
export function interpolateCompose(text: string, variables: Record<string, string | undefined>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (match, braced, operator, fallback, bare) => {
    if (match === '$$') return '$';
    const name = (braced ?? bare) as string;
    const value = variables[name];
    if (operator === ':-') return value ? value : (fallback as string);
    if (operator === '-') return value ?? (fallback as string);
    return value ?? '';
  });
}

function interpolateRecord(record: Record<string, string> | undefined, variables: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(record ?? {}).map(([key, value]) => [key, interpolateCompose(value, variables)]));
}

function scriptOf(serviceName: string, command: string[] | undefined, variables: Record<string, string | undefined>): string {
  const script = command?.join('\n');
  if (!script) throw new LocalStackError(`${composeFile}: service ${serviceName} has no command script`);
  return interpolateCompose(script, variables);
}

/**
 * Reads the compose file. `variables` play the part of the shell environment compose interpolates from
 * (e.g. TEMPORAL_NAMESPACE); the harness passes its own, never this process's, so a developer's shell
 * cannot change what the test runs.
 */
export function readComposeTopology(variables: Record<string, string | undefined> = {}, file = composeFile): ComposeTopology {
  const parsed = ComposeFile.safeParse(parse(fs.readFileSync(file, 'utf8'), { merge: true }));
  if (!parsed.success) {
    throw new LocalStackError(`${file} does not have the services the cluster harness reads: ${parsed.error.message}`);
  }
  const { services } = parsed.data;
  const tag = /^temporalio\/server:(\d+\.\d+\.\d+)$/.exec(services.temporal.image)?.[1];
  if (!tag) throw new LocalStackError(`${file}: service temporal's image ${services.temporal.image} is not temporalio/server:<x.y.z>`);
  return {
    serverVersion: `v${tag}`,
    postgresEnv: interpolateRecord(services.postgresql.environment, variables),
    schemaScript: scriptOf('temporal-schema', services['temporal-schema'].command, variables),
    schemaEnv: interpolateRecord(services['temporal-schema'].environment, variables),
    serverEnv: interpolateRecord(services.temporal.environment, variables),
    setupScript: scriptOf('temporal-setup', services['temporal-setup'].command, variables),
    setupEnv: interpolateRecord(services['temporal-setup'].environment, variables),
  };
}

/**
 * Replaces `from` with `to` in a compose script, and fails loudly if `from` is not there: a changed
 * compose file must change the harness too, not be silently run half-translated.
 */
export function rewriteComposeScript(script: string, serviceName: string, from: string, to: string): string {
  if (!script.includes(from)) {
    throw new LocalStackError(
      `${composeFile}: service ${serviceName}'s command no longer contains ${from}; update libs/devstack/src/temporal-cluster.ts to match it`,
    );
  }
  return script.split(from).join(to);
}
