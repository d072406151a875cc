import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { startDevServer, type DevServer } from '@trellis/devstack';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalNamespace: string;
    workDir: string;
  }
}

const tmpRoot = fileURLToPath(new URL('../.tmp/', import.meta.url));
let server: DevServer | undefined;
let workDir: string | undefined;

/** One real Temporal dev server for the whole run: free loopback port, throw-away SQLite db. */
export async function setup(project: TestProject): Promise<void> {
  fs.mkdirSync(tmpRoot, { recursive: true });
  workDir = fs.mkdtempSync(path.join(tmpRoot, 'run-'));
  server = await startDevServer({ workDir });
  project.provide('temporalAddress', server.address);
  project.provide('temporalNamespace', server.namespace);
  project.provide('workDir', workDir);
}

/** Runs after the last test, passed or failed; the watchdog covers a runner that is killed outright. */
export async function teardown(): Promise<void> {
  await server?.stop();
  if (workDir && !process.env.KEEP_TEST_TMP) fs.rmSync(workDir, { recursive: true, force: true });
}
