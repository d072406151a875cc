// Children report their end to the catalog by signal. One that never can (terminated by hand, timed out,
// or failed outside its own error handling after the catalog continued as new) would hold a window slot
// forever; the catalog calls this when waiting on its running assets takes long, to learn of such ends.
import { getClient } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { AssetSummary, assetWorkflowId, noUsage } from '@trellis/contracts';

export interface RunningAsset {
  sku: string;
  row: number;
}

export async function reconcileAssets(catalogId: string, running: RunningAsset[]): Promise<AssetSummary[]> {
  const client = getClient();
  const closed: AssetSummary[] = [];
  for (const { sku, row } of running) {
    const handle = client.workflow.getHandle(assetWorkflowId(catalogId, sku));
    const { status } = await handle.describe();
    if (status.name === 'RUNNING' || status.name === 'CONTINUED_AS_NEW') continue;
    if (status.name === 'COMPLETED') {
      closed.push(AssetSummary.parse(await handle.result()));
      continue;
    }
    // A failed asset ends Failed with its own summary as the failure's details (convert-asset.ts).
    const reported = status.name === 'FAILED' ? await reportedFailure(handle) : undefined;
    if (reported) {
      closed.push(reported);
      continue;
    }
    closed.push({
      sku,
      row,
      status: status.name === 'CANCELLED' ? 'cancelled' : 'failed',
      error: { code: `workflow_${status.name.toLowerCase()}`, message: `the asset workflow ended as ${status.name} without reporting` },
      usage: noUsage,
      generateCalls: 0,
    });
  }
  return closed;
}

async function reportedFailure(handle: { result(): Promise<unknown> }): Promise<AssetSummary | undefined> {
  const failure = await handle.result().then(
    () => undefined,
    (error: unknown) => error,
  );
  const cause = failure instanceof WorkflowFailedError ? failure.cause : undefined;
  const parsed = AssetSummary.safeParse(cause instanceof ApplicationFailure ? cause.details?.[0] : undefined);
  return parsed.success ? parsed.data : undefined;
}
