// Children report their end to the catalog by signal. One that never can (terminated by hand, timed out,
// or failed outside its own error handling after the catalog continued as new) would hold a window slot
// forever; the catalog calls this when waiting on its running assets takes long, to learn of such ends.
import { getClient } from '@temporalio/activity';
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
