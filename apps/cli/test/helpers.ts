// Test helpers: temp folders, a copy of the example catalog, and running the real CLI entry point.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tempDir as tempDirUnder } from '@trellis/devstack/testing';
import { repoRoot } from '@trellis/devstack';

export { repoRoot };
export const exampleCatalogDir = path.join(repoRoot, 'examples', 'catalog');

export const tempDir = (prefix = 'cli-test-') => tempDirUnder(prefix);

/**
 * Copies the example catalog (CSV and images) into `<temp>/<folder>/`, appending `extraRows` to the CSV.
 * Returns the CSV's path.
 */
export async function exampleCatalog(options: { folder?: string; extraRows?: string[]; fileName?: string } = {}): Promise<string> {
  const dir = path.join(await tempDir(), options.folder ?? 'shop');
  fs.mkdirSync(dir, { recursive: true });
  for (const name of fs.readdirSync(exampleCatalogDir)) fs.copyFileSync(path.join(exampleCatalogDir, name), path.join(dir, name));
  const csv = path.join(dir, options.fileName ?? 'catalog.csv');
  fs.renameSync(path.join(dir, 'example.csv'), csv);
  if (options.extraRows?.length) fs.appendFileSync(csv, `${options.extraRows.join('\n')}\n`);
  return csv;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node --import tsx apps/cli/src/main.ts ...args` from the repository root. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<CliRun> {
  // This machine's Temporal and service settings must not leak in (TRELLIS2_API_URL adds a service check).
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(TEMPORAL_|TRELLIS)/.test(name)));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join('apps', 'cli', 'src', 'main.ts'), ...args], {
      cwd: repoRoot,
      env: { ...cleanEnv, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`trellis ${args.join(' ')} did not finish in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The error a promise rejects with; fails the test if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`rejected with a non-Error: ${String(error)}`);
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** A loopback port nobody listens on (bound once to find it, then closed). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
