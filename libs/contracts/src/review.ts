// Review mode: a person approves what gets published. The schemas every side shares — the workflows (the
// asset's update handler and query), the CLI (`trellis review`), the dashboard's queue and the webhooks —
// so the word for a decision and the shape of a queued model are written once.
import { z } from 'zod';
import { CatalogId, Sku } from './catalog';
import { PresetName } from './preset-name';
import { Seed } from './pipeline';

/** `flagged`: only models the quality checks flag wait for a person; `all`: every model; `off`: none. */
export const reviewModes = ['off', 'flagged', 'all'] as const;
export const ReviewMode = z.enum(reviewModes);
export type ReviewMode = z.infer<typeof ReviewMode>;
export const DEFAULT_REVIEW_MODE: ReviewMode = 'off';

/** What an undecided model gets when the catalog's review deadline passes. */
export const reviewDeadlinePolicies = ['approve', 'reject'] as const;
export const ReviewDeadlinePolicy = z.enum(reviewDeadlinePolicies);
export type ReviewDeadlinePolicy = z.infer<typeof ReviewDeadlinePolicy>;

export const DEFAULT_REVIEW_DEADLINE_HOURS = 7 * 24;

/** A catalog's review settings (a workflow input: no credentials, only choices). */
export const ReviewSettings = z.object({
  mode: ReviewMode.default(DEFAULT_REVIEW_MODE),
  /** Hours from the moment an asset starts waiting until the policy decides for it. */
  deadlineHours: z.number().positive().max(90 * 24).default(DEFAULT_REVIEW_DEADLINE_HOURS),
  onDeadline: ReviewDeadlinePolicy.default('reject'),
});
export type ReviewSettings = z.output<typeof ReviewSettings>;

/** Who decided: the dashboard's token name or a header, the CLI's `--reviewer` (or the OS user). */
export const Reviewer = z.string().trim().min(1, 'name the reviewer').max(200);

export const reviewDecisionKinds = ['approve', 'regenerate', 'reject'] as const;
export const ReviewDecisionKind = z.enum(reviewDecisionKinds);
export type ReviewDecisionKind = z.infer<typeof ReviewDecisionKind>;

/** A person's decision, sent as a Temporal update to the waiting asset's workflow. */
export const ReviewDecision = z.discriminatedUnion('decision', [
  z.object({ decision: z.literal('approve'), reviewer: Reviewer }),
  /** A new attempt with a new seed (given, or chosen by the workflow); the rejected attempt's cost stays in the report. */
  z.object({ decision: z.literal('regenerate'), reviewer: Reviewer, seed: Seed.optional() }),
  z.object({ decision: z.literal('reject'), reviewer: Reviewer, reason: z.string().trim().min(1, 'say why the model is rejected').max(500) }),
]);
export type ReviewDecision = z.infer<typeof ReviewDecision>;

/** A decision as recorded in the manifest and the report: who, when, and on which attempt. */
export const RecordedReviewDecision = z.object({
  decision: ReviewDecisionKind,
  /** `deadline` when the catalog's policy decided an undecided model. */
  reviewer: z.string().min(1),
  decidedAt: z.string().datetime(),
  attempt: z.number().int().min(0),
  seed: Seed,
  reason: z.string().optional(),
  /** The new seed a `regenerate` asked for. */
  nextSeed: Seed.optional(),
});
export type RecordedReviewDecision = z.infer<typeof RecordedReviewDecision>;

/**
 * A model waiting for a person, as the asset workflow's `reviewItem` query returns it and the dashboard's
 * queue and `trellis review --list` show it. Paths are relative to the catalog's output folder.
 */
export const ReviewItem = z.object({
  catalogId: CatalogId,
  sku: Sku,
  row: z.number().int().min(1),
  /** 0 for the first generation, +1 per regenerate. */
  attempt: z.number().int().min(0),
  seed: Seed,
  /** The quality checks' overall score (0..1, 1 = no sign of a defect) and whether it fell below the threshold. */
  score: z.number().min(0).max(1),
  flagged: z.boolean(),
  failing: z.array(z.string()),
  /** The cheapest preset, the only GLB made before the decision. */
  preset: PresetName,
  files: z.object({ glb: z.string(), preview: z.string().optional(), image: z.string().optional() }),
  waitingSince: z.string().datetime(),
  /** When the catalog's policy decides if nobody does. */
  deadline: z.string().datetime(),
  onDeadline: ReviewDeadlinePolicy,
  /** Earlier decisions on this SKU (regenerates), oldest first. */
  history: z.array(RecordedReviewDecision),
});
export type ReviewItem = z.infer<typeof ReviewItem>;
