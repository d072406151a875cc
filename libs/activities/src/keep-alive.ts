// Heartbeats for activities that report no progress of their own (file steps, catalog pages, the quality
// check, the warm-up): with a heartbeat timeout in their options, a worker killed mid-step is noticed in
// seconds and the step retried elsewhere, not after its whole start-to-close timeout.
import { Context } from '@temporalio/activity';

export const KEEP_ALIVE_EVERY_MS = 5000;

/** Runs `work`, heartbeating (without details) every few seconds until it settles; outside an activity it just runs it. */
export async function keepAlive<T>(work: () => Promise<T>): Promise<T> {
  let context: Context;
  try {
    context = Context.current();
  } catch {
    return await work(); // not running as an activity (unit tests)
  }
  context.heartbeat();
  const beat = setInterval(() => context.heartbeat(), KEEP_ALIVE_EVERY_MS);
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
}
