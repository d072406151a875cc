// Test helpers: temp folders removed after each test, and process-liveness checks with bounded waits.
import fs from 'node:fs';
import { tempDir as tempDirUnder } from '../src/testing';

export const tempDir = (prefix = 'devstack-') => tempDirUnder(prefix);

/**
 * True while `pid` runs. A zombie (exited, not yet reaped: e.g. an orphan whose new parent has not
 * collected it yet) counts as gone, since it no longer runs anything.
 */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Format: "pid (comm) state ..."; comm may contain spaces, so read after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return !fs.existsSync('/proc/self/stat'); // no procfs: trust kill(0)
  }
}

/** Polls `check` every 50 ms until it is true; false if `timeoutMs` passed first. */
export async function eventually(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits until `file` contains a match of `pattern` and returns the match. */
export async function waitForLog(file: string, pattern: RegExp, timeoutMs = 5000): Promise<RegExpMatchArray> {
  let match: RegExpMatchArray | null = null;
  const found = await eventually(() => {
    match = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').match(pattern) : null;
    return match !== null;
  }, timeoutMs);
  if (!found || !match) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '(missing)';
    throw new Error(`${file} did not show ${pattern} within ${timeoutMs} ms; it holds:\n${text}`);
  }
  return match;
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
