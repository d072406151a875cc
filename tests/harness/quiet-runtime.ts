// Test processes log Temporal's own messages at WARN and above only, through the worker's own log format
// (an expected asset failure is one line), and keep the lines so tests can check what a user would read.
import { Runtime } from '@temporalio/worker';
import { trellisWorkerLogger } from '@trellis/workers';

export const workerLogLines: string[] = [];
Runtime.install({
  logger: trellisWorkerLogger('WARN', (line) => {
    workerLogLines.push(line);
    process.stderr.write(line);
  }),
});
