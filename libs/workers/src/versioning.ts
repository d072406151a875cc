// Worker Versioning: every worker announces the Worker Deployment Version it runs, so new workflow code never
// breaks executions started on older code.
// - The version is (deployment, build id). The deployment defaults to the task queue's name; the build id to a
//   hash of the workflow bundle, so any change to workflow code is a new version by itself (TRELLIS_BUILD_ID
//   overrides it, e.g. with a release tag).
// - Asset workflows are PINNED (the worker's default): each runs to its end on the version it started on.
//   Catalogs and webhook deliveries are AUTO_UPGRADE (they run for hours or retry for a day): they move to the
//   current version, which the replay test (tests/integration/replay.test.ts) keeps able to continue them.
// - A starting worker makes its version the current one (TRELLIS_PROMOTE_ON_START=current, the default), so
//   new catalogs and assets start on it; `none` leaves that to an operator, for ramped rollouts
//   (docs/operators.md, "Rolling out a new worker version").
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { NativeConnection, Worker, WorkflowBundleOption } from '@temporalio/worker';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import { z } from 'zod';

const versionPart = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'letters, digits, ".", "_" and "-" (at most 100)');

export const VersioningEnv = z.object({
  TRELLIS_DEPLOYMENT_NAME: versionPart.optional(),
  TRELLIS_BUILD_ID: versionPart.optional(),
  TRELLIS_PROMOTE_ON_START: z.enum(['current', 'none']).default('current'),
});
export type VersioningEnv = z.infer<typeof VersioningEnv>;

export function versioningFromEnv(env: NodeJS.ProcessEnv = process.env): VersioningEnv {
  const parsed = VersioningEnv.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new Error(`Invalid worker versioning settings in the environment: ${issues}`);
  }
  return parsed.data;
}

/** A build id from the workflow code itself: the same code gives the same id on every machine. */
export function buildIdOfBundle(code: string): string {
  return `wf-${createHash('sha256').update(code).digest('hex').slice(0, 16)}`;
}

export function bundleCode(bundle: WorkflowBundleOption): string {
  return 'code' in bundle ? bundle.code : fs.readFileSync(bundle.codePath, 'utf8');
}

export function workerVersion(taskQueue: string, bundle: WorkflowBundleOption, env: VersioningEnv): WorkerDeploymentVersion {
  return { deploymentName: env.TRELLIS_DEPLOYMENT_NAME ?? taskQueue, buildId: env.TRELLIS_BUILD_ID ?? buildIdOfBundle(bundleCode(bundle)) };
}

/**
 * Makes `version` the deployment's current one: new workflows start on it, AUTO_UPGRADE ones move to it,
 * PINNED ones stay where they are. -> false when the server wants this version's pollers first: it refuses a
 * current version that would leave the old one's task queues unserved until the new worker polls them.
 */
export async function makeCurrentVersion(connection: NativeConnection, namespace: string, version: WorkerDeploymentVersion): Promise<boolean> {
  try {
    await connection.workflowService.setWorkerDeploymentCurrentVersion({
      namespace,
      deploymentName: version.deploymentName,
      buildId: version.buildId,
      allowNoPollers: true, // a deployment's first version: current before it polls, so no task goes elsewhere
      identity: `trellis-worker@${process.pid}`,
    });
    return true;
  } catch (error) {
    if (error instanceof Error && /missing active task queues/.test(error.message)) return false;
    throw error;
  }
}

/** Once `worker` polls, makes its version current (retrying until the server has seen its pollers). */
export async function makeCurrentOncePolling(connection: NativeConnection, namespace: string, version: WorkerDeploymentVersion, worker: Worker): Promise<void> {
  for (let attempt = 0; worker.getState() !== 'STOPPED' && worker.getState() !== 'FAILED'; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** attempt)));
    if (worker.getState() === 'RUNNING' && (await makeCurrentVersion(connection, namespace, version))) return;
  }
}
