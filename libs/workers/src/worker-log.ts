// The worker's log: an expected, classified failure is ONE line (SKU, code, message) — a catalog of
// 10,000 rows with 50 missing photos must not print 50 stack traces. Unexpected errors (anything that
// is not one of our classified ApplicationFailures) keep their full stack.
import { formatWithOptions } from 'node:util';
import { DefaultLogger, type LogEntry, type LogLevel } from '@temporalio/worker';

interface FailureLike {
  name?: string;
  message?: string;
  type?: string | null;
  nonRetryable?: boolean;
  cause?: FailureLike;
}

/**
 * Duck-typed: workflow log entries come from the workflow thread by structured clone, which keeps an
 * error's message and stack but turns its name into "Error" and drops its other fields.
 */
function applicationFailureOf(error: unknown): FailureLike | undefined {
  let current = error as (FailureLike & { stack?: string }) | undefined;
  for (let depth = 0; current && depth < 4; depth++, current = current.cause) {
    if (typeof current.message !== 'string') continue;
    if (current.name === 'ApplicationFailure' || String(current.stack ?? '').startsWith('ApplicationFailure:')) return current;
  }
  return undefined;
}

/**
 * The one line an entry is reduced to; `null` to drop it; undefined to print it in full. A classified
 * activity failure that is final is dropped: the asset workflow's "failed" line that follows says it
 * with the SKU; a transient one that will be retried is one line with its attempt.
 */
export function oneLineFor(entry: Pick<LogEntry, 'level' | 'message' | 'meta'>): string | null | undefined {
  const meta = (entry.meta ?? {}) as Record<string, unknown>;
  // The finishing worker serves activities only, by design: the SDK's warning about it says nothing.
  if (entry.message === 'No workflows registered, not polling for workflow tasks') return null;
  const failure = applicationFailureOf(meta['error']);
  if (!failure) return undefined;
  const code = failure.type ?? 'error';
  if (entry.message === 'Activity failed') {
    if (failure.nonRetryable) return null;
    return `activity ${String(meta['activityType'] ?? '?')} of ${String(meta['workflowId'] ?? '?')} failed (attempt ${String(meta['attempt'] ?? '?')}, will retry): ${code}: ${failure.message}`;
  }
  if (entry.message === 'Workflow failed') {
    // Asset failures already read `SKU "<sku>" (row N) failed: <code>: <message>`.
    const message = failure.message!;
    return message.startsWith('SKU "') ? message : `${String(meta['workflowId'] ?? 'workflow')} failed: ${code}: ${message}`;
  }
  return undefined;
}

const format = formatWithOptions.bind(undefined, { colors: false });

export function trellisLogFunction(write: (line: string) => void = (line) => void process.stderr.write(line)) {
  return (entry: LogEntry): void => {
    const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
    const short = oneLineFor(entry);
    if (short === null) return;
    if (short !== undefined) return write(`${time} [${entry.level}] ${short}\n`);
    write(entry.meta === undefined ? `${time} [${entry.level}] ${entry.message}\n` : `${time} [${entry.level}] ${entry.message} ${format(entry.meta)}\n`);
  };
}

/** The worker's logger (install with `Runtime.install({ logger })` before creating the worker). */
export function trellisWorkerLogger(level: LogLevel = 'INFO', write?: (line: string) => void): DefaultLogger {
  return new DefaultLogger(level, trellisLogFunction(write));
}
