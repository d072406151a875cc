// The review queue as the dashboard serves it: the catalog's assets waiting `in_review` (found in
// visibility by their TrellisStage, then asked for their queue entry with the asset's `reviewItem`
// query), and decisions sent as the asset's `reviewDecision` update. Only the server holds the Temporal
// client; the page sends what it decided and on which attempt, never who it is.
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { z } from 'zod';
import {
  CatalogId,
  RecordedReviewDecision,
  ReviewDecision,
  ReviewItem,
  Sku,
  assetWorkflowId,
  searchAttributeNames,
} from '@trellis/contracts';
import { reviewDecisionUpdate, reviewItemQuery, visibilityLiteral } from '@trellis/workflows/client';

/** One item as the page shows it: the queue entry and the URLs of its files (served by /files/). */
export const ReviewQueueEntry = ReviewItem.extend({
  urls: z.object({ glb: z.string(), preview: z.string().optional(), image: z.string().optional() }),
});
export type ReviewQueueEntry = z.infer<typeof ReviewQueueEntry>;

export const ReviewQueue = z.object({
  catalogId: CatalogId,
  /** Who this page's decisions are recorded under (shown, so a reviewer sees the name before deciding). */
  reviewer: z.string(),
  /** Worst score first. */
  items: z.array(ReviewQueueEntry),
});
export type ReviewQueue = z.infer<typeof ReviewQueue>;

/** The attempt the reviewer looked at: a decision meant for attempt 0 never lands on attempt 1. */
const Attempt = z.number().int().min(0);
const rejectReason = ReviewDecision.options[2].shape.reason;

/** A decision as the page posts it. Strict: a `reviewer` in the body is refused, not ignored. */
export const DecisionRequest = z.discriminatedUnion('decision', [
  z.strictObject({ decision: z.literal('approve'), attempt: Attempt }),
  z.strictObject({ decision: z.literal('regenerate'), attempt: Attempt }),
  z.strictObject({ decision: z.literal('reject'), attempt: Attempt, reason: rejectReason }),
]);
export type DecisionRequest = z.infer<typeof DecisionRequest>;

/** "Approve all at or above S", limited to the items the reviewer was shown (SKU and attempt). */
export const BulkApproveRequest = z.strictObject({
  minScore: z.number().min(0).max(1),
  shown: z.array(z.strictObject({ sku: Sku, attempt: Attempt })).min(1).max(1000),
});
export type BulkApproveRequest = z.infer<typeof BulkApproveRequest>;

export const BulkApproveAnswer = z.object({
  approved: z.array(z.object({ sku: z.string(), recorded: RecordedReviewDecision })),
  skipped: z.array(z.object({ sku: z.string(), error: z.string() })),
});
export type BulkApproveAnswer = z.infer<typeof BulkApproveAnswer>;

/** Why a decision was not taken; `status` is the HTTP status the route answers with. */
export class DecisionRefused extends Error {
  constructor(
    readonly code: 'not_waiting' | 'already_decided' | 'refused',
    message: string,
    readonly status = 409,
  ) {
    super(message);
  }
}

/** A query needs a worker (the waiting asset is replayed to answer it); without one the page still answers. */
const QUERY_DEADLINE_MS = 3000;
const MAX_QUEUED = 500;
const QUERY_CONCURRENCY = 8;

/** `/files/<catalog>/<path relative to the catalog folder>`, one encoded URL segment per path segment. */
export const catalogFileUrl = (catalogId: string, relative: string) =>
  `/files/${[catalogId, ...relative.split('/').filter((segment) => segment !== '')].map(encodeURIComponent).join('/')}`;

async function mapLimited<T, R>(items: T[], limit: number, each: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await each(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return results;
}

async function queryItem(client: Client, workflowId: string): Promise<ReviewItem | undefined> {
  const answer = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => client.workflow.getHandle(workflowId).query(reviewItemQuery));
  return answer === undefined || answer === null ? undefined : ReviewItem.parse(answer);
}

/** The catalog's waiting models, worst score first (then row). An asset decided a moment ago is not listed. */
export async function listReviewQueue(client: Client, catalogId: string): Promise<ReviewItem[]> {
  const query =
    `WorkflowType = 'convertAsset' AND ExecutionStatus = 'Running' AND ${searchAttributeNames.catalogId} = ${visibilityLiteral(catalogId)}` +
    ` AND ${searchAttributeNames.stage} = 'in_review'`;
  const workflowIds: string[] = [];
  for await (const execution of client.workflow.list({ query, pageSize: 100 })) {
    workflowIds.push(execution.workflowId);
    if (workflowIds.length >= MAX_QUEUED) break;
  }
  // Visibility lags the workflows by a moment: the query is the asset's own word on whether it waits.
  const items = await mapLimited([...new Set(workflowIds)], QUERY_CONCURRENCY, (workflowId) => queryItem(client, workflowId).catch(() => undefined));
  return items
    .filter((item): item is ReviewItem => item !== undefined && item.catalogId === catalogId)
    .sort((a, b) => a.score - b.score || a.row - b.row || a.sku.localeCompare(b.sku));
}

export function withUrls(item: ReviewItem): ReviewQueueEntry {
  return ReviewQueueEntry.parse({
    ...item,
    urls: {
      glb: catalogFileUrl(item.catalogId, item.files.glb),
      ...(item.files.preview ? { preview: catalogFileUrl(item.catalogId, item.files.preview) } : {}),
      ...(item.files.image ? { image: catalogFileUrl(item.catalogId, item.files.image) } : {}),
    },
  });
}

const asDecision = (request: DecisionRequest, reviewer: string): ReviewDecision =>
  ReviewDecision.parse(request.decision === 'reject' ? { decision: 'reject', reviewer, reason: request.reason } : { decision: request.decision, reviewer });

/**
 * Sends one decision and answers with what the asset recorded. Refused, with a reason the page shows:
 * the asset waits no more (decided, or its deadline passed, or it ended), or waits on another attempt
 * than the one the reviewer saw (someone decided first), or the workflow itself refused it.
 */
export async function sendDecision(client: Client, catalogId: string, sku: string, request: DecisionRequest, reviewer: string): Promise<RecordedReviewDecision> {
  const workflowId = assetWorkflowId(catalogId, sku);
  let waiting: ReviewItem | undefined;
  try {
    waiting = await queryItem(client, workflowId);
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new DecisionRefused('not_waiting', `${sku} is not in catalog ${catalogId}`, 404);
    // A query on a workflow that has ended still answers (from its history); a failure here is no answer.
    throw error;
  }
  if (!waiting) throw new DecisionRefused('not_waiting', `${sku} is not waiting for review any more (decided, past its deadline, or finished)`);
  if (waiting.attempt !== request.attempt) {
    throw new DecisionRefused('already_decided', `${sku}'s attempt ${request.attempt} was already decided; attempt ${waiting.attempt} is waiting now`);
  }
  try {
    const recorded = await client.workflow.getHandle(workflowId).executeUpdate(reviewDecisionUpdate, { args: [asDecision(request, reviewer)] });
    return RecordedReviewDecision.parse(recorded);
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError) {
      const why = (error.cause as Error | undefined)?.message ?? error.message;
      throw new DecisionRefused(/already/i.test(why) ? 'already_decided' : /not waiting|no longer/i.test(why) ? 'not_waiting' : 'refused', `${sku}: ${why}`);
    }
    if (error instanceof WorkflowNotFoundError) throw new DecisionRefused('not_waiting', `${sku} is not waiting for review any more (its workflow ended)`);
    throw error;
  }
}

/** Approves, one asset at a time in a few lanes, each shown item still waiting at its attempt and scoring at least minScore. */
export async function approveAbove(client: Client, catalogId: string, request: BulkApproveRequest, reviewer: string): Promise<BulkApproveAnswer> {
  const waiting = new Map((await listReviewQueue(client, catalogId)).map((item) => [item.sku, item]));
  const answer: BulkApproveAnswer = { approved: [], skipped: [] };
  const chosen = request.shown.filter(({ sku, attempt }) => {
    const item = waiting.get(sku);
    if (!item) answer.skipped.push({ sku, error: 'not waiting for review any more' });
    else if (item.attempt !== attempt) answer.skipped.push({ sku, error: `attempt ${item.attempt} is waiting now, not the one shown` });
    else if (item.score < request.minScore) answer.skipped.push({ sku, error: `score ${item.score.toFixed(2)} is below ${request.minScore}` });
    else return true;
    return false;
  });
  await mapLimited(chosen, 4, async ({ sku, attempt }) => {
    try {
      answer.approved.push({ sku, recorded: await sendDecision(client, catalogId, sku, { decision: 'approve', attempt }, reviewer) });
    } catch (error) {
      answer.skipped.push({ sku, error: (error as Error).message });
    }
  });
  return BulkApproveAnswer.parse(answer);
}
