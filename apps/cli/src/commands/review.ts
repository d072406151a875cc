// `trellis review <catalog-id>`: the catalog's review queue (models waiting for a person, lowest score first)
// and the decisions on it. The queue and the decisions go through @trellis/workflows/client's review module,
// the one the dashboard uses too.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { WorkflowNotFoundError } from '@temporalio/client';
import { CatalogId, Reviewer, Seed, Sku, type RecordedReviewDecision, type ReviewDecision, type ReviewItem } from '@trellis/contracts';
import { approveReviewsAbove, decideReview, listReviewQueue, ReviewDecisionRefusedError } from '@trellis/workflows/client';
import { UsageError } from '../conversion-input';
import { connectClient } from '@trellis/temporal-connection';

export const reviewOptions = {
  list: { type: 'boolean', default: false },
  'approve-above': { type: 'string' },
  approve: { type: 'string' },
  regenerate: { type: 'string' },
  seed: { type: 'string' },
  reject: { type: 'string' },
  reason: { type: 'string' },
  reviewer: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

export const reviewUsage = `trellis review <catalog-id> [--list] [--approve-above S] [--approve SKU | --regenerate SKU [--seed N] |
                         --reject SKU --reason R] [--reviewer NAME] [--json]

  The models of a catalog converted with --review that wait for a person, lowest quality score first, and
  the decisions on them. Paths are relative to the catalog's output folder (DIR/<catalog-id>/).
  --list             list the queue (the default when no decision is given)
  --approve-above S  approve every waiting model whose score is at least S (0..1)
  --approve SKU      make its other presets and channel files
  --regenerate SKU   a new model with a new seed (--seed N, or one derived from the current seed)
  --seed N           the seed of --regenerate
  --reject SKU       the SKU fails, with --reason R (required) in its manifest and the report
  --reason R         why it is rejected
  --reviewer NAME    who decides, recorded with the decision (default: your user name)
  --json             print the queue or the recorded decisions as JSON`;

type Action =
  | { kind: 'list' }
  | { kind: 'approve-above'; minScore: number; reviewer: string }
  | { kind: 'decide'; sku: string; decision: ReviewDecision };

interface ReviewArgs {
  catalogId: string;
  json: boolean;
  action: Action;
}

export function parseReviewArgs(args: string[]): ReviewArgs {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: reviewOptions });
  const catalogId = CatalogId.safeParse(positionals[0]);
  if (!catalogId.success || positionals.length !== 1) throw new UsageError(`give one catalog id\n\n${reviewUsage}`);
  const decisions = (['approve-above', 'approve', 'regenerate', 'reject'] as const).filter((name) => values[name] !== undefined);
  if (decisions.length > 1) throw new UsageError(`give one of --${decisions.join(', --')} at a time`);
  if (values.seed !== undefined && values.regenerate === undefined) throw new UsageError('--seed goes with --regenerate SKU');
  if (values.reason !== undefined && values.reject === undefined) throw new UsageError('--reason goes with --reject SKU');
  const reviewer = checked(Reviewer, values.reviewer ?? os.userInfo().username, '--reviewer: name who decides');
  return { catalogId: catalogId.data, json: values.json, action: actionOf(values, reviewer) };
}

function actionOf(values: { [Name in keyof typeof reviewOptions]?: string | boolean }, reviewer: string): Action {
  const sku = (flag: 'approve' | 'regenerate' | 'reject') => checked(Sku, values[flag], `--${flag} needs the SKU as the catalog writes it`);
  if (typeof values['approve-above'] === 'string') {
    const minScore = Number(values['approve-above']);
    if (!(minScore >= 0 && minScore <= 1)) throw new UsageError(`--approve-above must be a score from 0 to 1 (got "${values['approve-above']}")`);
    return { kind: 'approve-above', minScore, reviewer };
  }
  if (values.approve !== undefined) return { kind: 'decide', sku: sku('approve'), decision: { decision: 'approve', reviewer } };
  if (values.regenerate !== undefined) {
    const seed = values.seed === undefined ? undefined : checked(Seed, Number(values.seed), '--seed must be an integer from 0 to 2147483647');
    return { kind: 'decide', sku: sku('regenerate'), decision: { decision: 'regenerate', reviewer, ...(seed === undefined ? {} : { seed }) } };
  }
  if (values.reject !== undefined) {
    if (typeof values.reason !== 'string' || !values.reason.trim()) throw new UsageError('--reject SKU needs --reason R: say why the model is rejected');
    return { kind: 'decide', sku: sku('reject'), decision: { decision: 'reject', reviewer, reason: values.reason } };
  }
  return { kind: 'list' };
}

function checked<T>(schema: { safeParse(value: unknown): { success: true; data: T } | { success: false } }, value: unknown, message: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new UsageError(message);
  return parsed.data;
}

/** The queue as a table, lowest score first. */
export function formatReviewQueue(catalogId: string, items: readonly ReviewItem[]): string {
  if (items.length === 0) return `${catalogId}: no model waits for review.`;
  const lines = items.map((item) =>
    [
      item.score.toFixed(2).padEnd(6),
      `${item.sku} (row ${item.row})`.padEnd(28),
      `attempt ${item.attempt} seed ${item.seed}`.padEnd(26),
      (item.failing.join(' ') || '-').padEnd(18),
      item.files.glb,
      `  decides itself: ${item.onDeadline} at ${item.deadline}`,
    ].join(' '),
  );
  return [`${catalogId}: ${items.length} model(s) wait for review`, 'score  sku (row)                     attempt                    failing            model', ...lines].join('\n');
}

function describeDecision(sku: string, recorded: RecordedReviewDecision): string {
  const what = { approve: 'approved: its other presets and channels are being made', regenerate: `regenerating with seed ${recorded.nextSeed}`, reject: `rejected (${recorded.reason})` }[recorded.decision];
  return `${sku}: ${what}; recorded for ${recorded.reviewer} at ${recorded.decidedAt}.`;
}

export async function reviewCommand(args: string[]): Promise<number> {
  const { catalogId, json, action } = parseReviewArgs(args);
  const client = await connectClient();
  try {
    if (action.kind === 'list') {
      const items = await listReviewQueue(client, catalogId);
      console.log(json ? JSON.stringify(items, null, 2) : formatReviewQueue(catalogId, items));
      return 0;
    }
    if (action.kind === 'approve-above') {
      const recorded = await approveReviewsAbove(client, catalogId, action.minScore, action.reviewer);
      console.log(json ? JSON.stringify(recorded, null, 2) : `${catalogId}: approved ${recorded.length} model(s) scoring at least ${action.minScore}.`);
      return 0;
    }
    const recorded = await decideReview(client, catalogId, action.sku, action.decision);
    console.log(json ? JSON.stringify(recorded, null, 2) : describeDecision(action.sku, recorded));
    return 0;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new UsageError(`No asset of catalog ${catalogId} by that SKU is running. See the queue with \`trellis review ${catalogId} --list\`.`);
    if (error instanceof ReviewDecisionRefusedError) throw new UsageError(`${error.message}. See the queue with \`trellis review ${catalogId} --list\`.`);
    throw error;
  } finally {
    await client.connection.close();
  }
}
