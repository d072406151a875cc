// The review queue from the client side: which assets of a catalog wait for a person, what each shows, and
// sending a decision. One module the CLI (`trellis review`) and the dashboard's queue both import, so the
// query, the sort order and the way a refused decision reads are written once.
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import {
  RecordedReviewDecision,
  ReviewDecision,
  ReviewItem,
  Reviewer,
  assetWorkflowId,
  searchAttributeNames,
} from '@trellis/contracts';
import { reviewDecisionUpdate, reviewItemQuery } from './messages';
import { visibilityLiteral } from './search-attributes';

/** The visibility query for a catalog's asset workflows waiting for review (their TrellisStage). */
export function inReviewAssetsQuery(catalogId: string): string {
  return (
    `WorkflowType = 'convertAsset' AND ExecutionStatus = 'Running' AND ` +
    `${searchAttributeNames.catalogId} = ${visibilityLiteral(catalogId)} AND ${searchAttributeNames.stage} = 'in_review'`
  );
}

/**
 * The catalog's review queue, lowest score first (the likeliest defects on top). Each entry is the asset's
 * own `reviewItem` query; an asset decided between the listing and its query (visibility lags a little) is
 * left out.
 */
export async function listReviewQueue(client: Client, catalogId: string): Promise<ReviewItem[]> {
  const workflowIds: string[] = [];
  for await (const execution of client.workflow.list({ query: inReviewAssetsQuery(catalogId), pageSize: 100 })) {
    workflowIds.push(execution.workflowId);
  }
  const answers = await Promise.all(workflowIds.map((workflowId) => queryReviewItem(client, workflowId)));
  return answers.filter((item): item is ReviewItem => item !== undefined).sort((a, b) => a.score - b.score || a.row - b.row);
}

/** One asset's queue entry, or undefined when it is not waiting (any more). */
export async function getReviewItem(client: Client, catalogId: string, sku: string): Promise<ReviewItem | undefined> {
  return queryReviewItem(client, assetWorkflowId(catalogId, sku));
}

async function queryReviewItem(client: Client, workflowId: string): Promise<ReviewItem | undefined> {
  const answer = await client.workflow.getHandle(workflowId).query(reviewItemQuery);
  return answer === undefined || answer === null ? undefined : ReviewItem.parse(answer);
}

/** A decision the asset refused: it is not waiting for review (decided already, or never asked). */
export class ReviewDecisionRefusedError extends Error {
  constructor(
    readonly catalogId: string,
    readonly sku: string,
    reason: string,
  ) {
    super(`SKU "${sku}" of catalog ${catalogId}: the decision was not taken: ${reason}`);
  }
}

/**
 * Sends a decision to the waiting asset and returns it as recorded (in its manifest and the report). The
 * asset's validator refuses it when the asset is not waiting; that reads as a ReviewDecisionRefusedError.
 */
export async function decideReview(client: Client, catalogId: string, sku: string, decision: ReviewDecision): Promise<RecordedReviewDecision> {
  const parsed = ReviewDecision.parse(decision);
  try {
    const recorded = await client.workflow.getHandle(assetWorkflowId(catalogId, sku)).executeUpdate(reviewDecisionUpdate, { args: [parsed] });
    return RecordedReviewDecision.parse(recorded);
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError) throw new ReviewDecisionRefusedError(catalogId, sku, error.cause?.message ?? error.message);
    throw error;
  }
}

/** Approves every waiting model scoring at least `minScore` (bulk approve); returns what was recorded. */
export async function approveReviewsAbove(client: Client, catalogId: string, minScore: number, reviewer: string): Promise<RecordedReviewDecision[]> {
  const name = Reviewer.parse(reviewer);
  const chosen = (await listReviewQueue(client, catalogId)).filter((item) => item.score >= minScore);
  const recorded: RecordedReviewDecision[] = [];
  for (const item of chosen) recorded.push(await decideReview(client, catalogId, item.sku, { decision: 'approve', reviewer: name }));
  return recorded;
}
