// The review queue as the dashboard serves it, on the client module the CLI uses too
// (@trellis/workflows/client review-client: the in_review listing, the asset's reviewItem query, the
// reviewDecision update). Added here, for a page: the URLs of each item's files, the attempt the reviewer
// looked at (a decision meant for attempt 0 never lands on attempt 1), refusals worded for the page with a
// code, and bulk approve limited to what the page showed. Only the server holds the Temporal client; the
// page sends what it decided and on which attempt, never who it is.
import { ServiceError, WorkflowNotFoundError, isGrpcServiceError, type Client } from '@temporalio/client';
import { z } from 'zod';
import { CatalogId, RecordedReviewDecision, ReviewDecision, ReviewItem, Sku } from '@trellis/contracts';
import { ReviewDecisionRefusedError, decideReview, getReviewItem, listReviewQueue as listWaiting } from '@trellis/workflows/client';

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

/** A query needs a worker (the waiting asset is replayed to answer it); without one the page must still answer. */
const QUERY_DEADLINE_MS = 5000;

/** `/files/<catalog>/<path relative to the catalog folder>`, one encoded URL segment per path segment. */
export const catalogFileUrl = (catalogId: string, relative: string) =>
  `/files/${[catalogId, ...relative.split('/').filter((segment) => segment !== '')].map(encodeURIComponent).join('/')}`;

/** No worker answered a waiting asset's query in time: the page says so (503) and polls again. */
export class ReviewQueueUnavailable extends Error {}

/** gRPC's DEADLINE_EXCEEDED (a status code fixed by the gRPC spec; the dashboard does not depend on grpc-js itself). */
const GRPC_DEADLINE_EXCEEDED = 4;
const unanswered = (error: unknown) =>
  error instanceof ServiceError && isGrpcServiceError(error.cause) && error.cause.code === GRPC_DEADLINE_EXCEEDED;

async function withinQueryDeadline<T>(client: Client, call: () => Promise<T>): Promise<T> {
  try {
    return await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, call);
  } catch (error) {
    if (unanswered(error)) throw new ReviewQueueUnavailable(`no worker answered the waiting models' queries within ${QUERY_DEADLINE_MS / 1000} s: is a worker running?`);
    throw error;
  }
}

/** The catalog's waiting models, worst score first (the review client's order). */
export function listReviewQueue(client: Client, catalogId: string): Promise<ReviewItem[]> {
  return withinQueryDeadline(client, () => listWaiting(client, catalogId));
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
  let waiting: ReviewItem | undefined;
  try {
    waiting = await withinQueryDeadline(client, () => getReviewItem(client, catalogId, sku));
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new DecisionRefused('not_waiting', `${sku} is not in catalog ${catalogId}`, 404);
    throw error;
  }
  if (!waiting) throw new DecisionRefused('not_waiting', `${sku} is not waiting for review any more (decided, past its deadline, or finished)`);
  if (waiting.attempt !== request.attempt) {
    throw new DecisionRefused('already_decided', `${sku}'s attempt ${request.attempt} was already decided; attempt ${waiting.attempt} is waiting now`);
  }
  try {
    return await decideReview(client, catalogId, sku, asDecision(request, reviewer));
  } catch (error) {
    // Between the query and the update another decision (or the deadline) may have come first.
    if (error instanceof ReviewDecisionRefusedError) {
      throw new DecisionRefused(/not waiting/i.test(error.message) ? 'not_waiting' : 'refused', error.message);
    }
    if (error instanceof WorkflowNotFoundError) throw new DecisionRefused('not_waiting', `${sku} is not waiting for review any more (its workflow ended)`);
    throw error;
  }
}

/** Approves, one asset after the other, each shown item still waiting at its attempt and scoring at least minScore. */
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
  for (const { sku, attempt } of chosen) {
    try {
      answer.approved.push({ sku, recorded: await sendDecision(client, catalogId, sku, { decision: 'approve', attempt }, reviewer) });
    } catch (error) {
      if (!(error instanceof DecisionRefused)) throw error;
      answer.skipped.push({ sku, error: error.message });
    }
  }
  return BulkApproveAnswer.parse(answer);
}
