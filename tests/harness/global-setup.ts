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
/** Folders of runs that were killed (and so never tore down) are removed once they are this old. */
const STALE_RUN_MS = 24 * 3600 * 1000;

function removeStaleRuns(): void {
  for (const name of fs.existsSync(tmpRoot) ? fs.readdirSync(tmpRoot) : []) {
    const dir = path.join(tmpRoot, name);
    if (name.startsWith('run-') && Date.now() - fs.statSync(dir).mtimeMs > STALE_RUN_MS) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}
let server: DevServer | undefined;
let workDir: string | undefined;

/** One real Temporal dev server for the whole run: free loopback port, throw-away SQLite db. */
export async function setup(project: TestProject): Promise<void> {
  fs.mkdirSync(tmpRoot, { recursive: true });
  removeStaleRuns();
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
