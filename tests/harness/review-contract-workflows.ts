// Test-only: an asset workflow that does nothing but the review contract (libs/contracts review.ts and
// the asset's reviewDecision update and reviewItem query), so the dashboard's review page can be driven
// in a browser without the GPU path. It starts waiting `in_review` with the item it is given; approve
// and reject end it (reject as a failure with the reason), regenerate waits again on attempt + 1 with
// the next seed and the decision in its history. The real convertAsset's review mode is tested with the
// real workflows; this one only answers the messages the way the contract says.
import { ApplicationFailure, condition, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { RecordedReviewDecision, ReviewDecision, ReviewItem } from '@trellis/contracts';
// The definitions themselves, not @trellis/workflows/client (which brings the Temporal client, refused in a bundle).
import { reviewDecisionUpdate, reviewItemQuery } from '../../libs/workflows/src/messages';
import { stageKey } from '../../libs/workflows/src/search-attributes';

export interface ReviewContractInput {
  item: ReviewItem;
  /** Files the next attempt shows (a regenerate): the test writes them beforehand. */
  regeneratedGlb?: string;
}

export async function convertAsset(input: ReviewContractInput): Promise<{ decisions: RecordedReviewDecision[] }> {
  let waiting: ReviewItem | undefined = { ...input.item, history: [...input.item.history] };
  const decisions: RecordedReviewDecision[] = [];
  let final: RecordedReviewDecision | undefined;
  upsertSearchAttributes([{ key: stageKey, value: 'in_review' }]);

  setHandler(reviewItemQuery, () => waiting);
  setHandler(
    reviewDecisionUpdate,
    (decision: ReviewDecision): RecordedReviewDecision => {
      const item = waiting!;
      const recorded: RecordedReviewDecision = {
        decision: decision.decision,
        reviewer: decision.reviewer,
        decidedAt: new Date(Date.now()).toISOString(),
        attempt: item.attempt,
        seed: item.seed,
        ...(decision.decision === 'reject' ? { reason: decision.reason } : {}),
        ...(decision.decision === 'regenerate' ? { nextSeed: decision.seed ?? item.seed + 1 } : {}),
      };
      decisions.push(recorded);
      if (recorded.decision === 'regenerate') {
        waiting = {
          ...item,
          attempt: item.attempt + 1,
          seed: recorded.nextSeed!,
          files: { ...item.files, glb: input.regeneratedGlb ?? item.files.glb },
          history: [...item.history, recorded],
        };
      } else {
        waiting = undefined;
        final = recorded;
        upsertSearchAttributes([{ key: stageKey, value: 'done' }]);
      }
      return recorded;
    },
    {
      validator: (_decision: ReviewDecision) => {
        if (!waiting) throw new Error('not waiting for review any more: already decided');
      },
    },
  );
  await condition(() => final !== undefined);
  if (final!.decision === 'reject') throw ApplicationFailure.nonRetryable(`rejected by ${final!.reviewer}: ${final!.reason}`, 'ReviewRejected');
  return { decisions };
}
