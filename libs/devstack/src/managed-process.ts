import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const watchdogScript = fileURLToPath(new URL('./watchdog.mjs', import.meta.url));

export interface ManagedProcess {
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code once the process (and the watchdog guarding it) has gone. */
  readonly exited: Promise<number | null>;
  hasExited(): boolean;
  stop(): Promise<void>;
  /** Kills the process tree with SIGKILL (as `kill -9`: no clean-up runs) and waits until it is gone. */
  crash(): Promise<void>;
}

export interface SpawnOptions {
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Starts `command` under the watchdog, output appended to `logFile`. The process is stopped by `stop()`,
 * and also when this Node process dies in any way, so tests and the demo never leave servers behind.
 */
export function spawnGuarded(command: string, args: string[], options: SpawnOptions): ManagedProcess {
  fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
  const logFd = fs.openSync(options.logFile, 'a');
  const child = spawn(process.execPath, [watchdogScript, String(process.pid), command, ...args], {
    stdio: ['ignore', logFd, logFd],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  fs.closeSync(logFd);
  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      done = true;
      resolve(code);
    });
  });
  return {
    pid: child.pid ?? -1,
    logFile: options.logFile,
    exited,
    hasExited: () => done,
    async stop() {
      if (!done) child.kill('SIGTERM');
      await exited;
    },
    async crash() {
      if (!done) child.kill('SIGUSR2');
      await exited;
    },
  };
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function getFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The last lines of a log, for error messages that explain why a process did not come up. */
export function tailOfLog(logFile: string, lines = 20): string {
  try {
    return fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls `probe` until it resolves true; fails early if the process died, with its log tail. */
/**
 * The local stack cannot start for a reason the user can fix (setup not run, a port taken, a process that
 * exits with its log saying why): the CLI prints the message alone, without a stack trace.
 */
export class LocalStackError extends Error {}

export async function waitUntilReady(
  what: string,
  process_: ManagedProcess,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (process_.hasExited()) {
      throw new LocalStackError(`${what} exited during start-up. Log ${process_.logFile}:\n${tailOfLog(process_.logFile)}`);
    }
    if (await probe().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await process_.stop();
  throw new LocalStackError(`${what} was not ready after ${timeoutMs / 1000}s. Log ${process_.logFile}:\n${tailOfLog(process_.logFile)}`);
}
