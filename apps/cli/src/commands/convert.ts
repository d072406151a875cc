import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { catalogWorkflowId, type CatalogResult, type NotifySettings } from '@trellis/contracts';
import { connectClient } from '@trellis/temporal-connection';
import { API_URL_ENV, TrellisClient } from '@trellis/trellis-client';
import { startCatalogConversion } from '../api';
import { describeProblem, prepareConversion, UsageError, type ConversionFlags, type PreparedConversion } from '../conversion-input';
import { notifyFromFlags, notifyOptions, notifyUsage, withNotify } from '../notify-flags';
import { summarizeResult, watchCatalog } from '../watch';

export const convertUsage = `trellis convert <catalog> --out DIR [options]

  <catalog>            CSV (, or ; separated), .xlsx, JSON, JSONL, or a folder of images; columns
                       sku,image[,seed,pipeline_type,presets], or a shop export (Shopify: Handle,
                       Variant SKU, Image Src, Image Position) matched automatically
  --out DIR            output root; GLBs go to DIR/<catalog-id>/<sku folder>/<preset>.glb; DIR may be
                       s3://bucket/prefix (AWS_* env; the catalog and its local images are put there too,
                       so workers need no shared disk)
  --sheet NAME         .xlsx: the sheet to read (default: the first)
  --sku-column NAME    the column holding the SKU (default: sku, Variant SKU, ... or Handle)
  --image-column NAME  the column holding the image path or URL (default: image, Image Src, ...)
  --image-position N   of a product with several images (Shopify), use the Nth (default 1)
  --max-cost USD       pause before the estimated cost would pass USD (\`trellis estimate\` first)
  --catalog-id ID      default: from the catalog's file (or folder) name
  --presets LIST       comma-separated, default fast,balanced,quality
  --presets-file FILE  custom presets: {"presets": {"name": {"decimation_target": N, "texture_size": 1024}}}
  --pipeline TYPE      512 | 1024 | 1024_cascade (default) | 1536_cascade
  --channels LIST      also make shop-ready files per SKU: web,shopify,google,amazon (or your own,
                       {"channels": {...}} in --presets-file); DIR/<catalog-id>/<sku folder>/channels/
  --seed N             default 42 (a row's own seed wins)
  --concurrency N      assets at once; match your GPU containers (Modal max_containers), default 4
  --lookahead N        rows started beyond --concurrency, so a container finds its next job queued
                       (only when max_containers caps the containers at --concurrency), default 0
  --review MODE        off (default) | flagged | all: models wait for a person (\`trellis review\`) after
                       their cheapest preset and quality checks; flagged: only those the checks flag
  --review-deadline H  hours a model waits before the policy decides (default 168, 7 days)
  --review-on-deadline approve | reject (default): what the deadline decides
  --no-wait            start and return; watch with \`trellis status <catalog-id>\`
  --json               print the result (or the started ids) as JSON
${notifyUsage}`;

/** The options that decide what work a catalog is (shared by `convert` and `estimate`). */
export const workOptions = {
  out: { type: 'string' },
  'catalog-id': { type: 'string' },
  presets: { type: 'string' },
  'presets-file': { type: 'string' },
  pipeline: { type: 'string' },
  seed: { type: 'string' },
  sheet: { type: 'string' },
  'sku-column': { type: 'string' },
  'image-column': { type: 'string' },
  'image-position': { type: 'string' },
  channels: { type: 'string' },
} as const;

type WorkOptionValues = { [Name in keyof typeof workOptions]?: string };

export function workFlagsOf(values: WorkOptionValues) {
  return {
    catalogId: values['catalog-id'],
    presets: values.presets,
    presetsFile: values['presets-file'],
    pipeline: values.pipeline,
    seed: values.seed,
    sheet: values.sheet,
    skuColumn: values['sku-column'],
    imageColumn: values['image-column'],
    imagePosition: values['image-position'],
    channels: values.channels,
  };
}

export const convertOptions = {
  ...workOptions,
  concurrency: { type: 'string' },
  lookahead: { type: 'string' },
  'max-cost': { type: 'string' },
  review: { type: 'string' },
  'review-deadline': { type: 'string' },
  'review-on-deadline': { type: 'string' },
  'no-wait': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  ...notifyOptions,
} as const;

export function parseConversionArgs(args: string[]): { flags: ConversionFlags; wait: boolean; json: boolean; notify?: NotifySettings } {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: convertOptions });
  const [catalog, ...extra] = positionals;
  if (!catalog || extra.length > 0) throw new UsageError(`give exactly one catalog\n\n${convertUsage}`);
  if (!values.out) throw new UsageError(`--out DIR is required\n\n${convertUsage}`);
  return {
    flags: {
      ...workFlagsOf(values),
      catalog,
      out: values.out,
      concurrency: values.concurrency,
      lookahead: values.lookahead,
      maxCost: values['max-cost'],
      review: values.review,
      reviewDeadline: values['review-deadline'],
      reviewOnDeadline: values['review-on-deadline'],
    },
    wait: !values['no-wait'],
    json: values.json,
    notify: notifyFromFlags(values),
  };
}

/** Prints what is wrong with the catalog; refuses to start when no row is usable. */
export function reportProblems(prepared: PreparedConversion, say: (message: string) => void): void {
  const { problems, input, validRows } = prepared;
  if (problems.length > 0) {
    say(`${problems.length} row(s) of ${input.catalogPath} cannot be converted and will be listed in the report as invalid:`);
    for (const problem of problems.slice(0, 20)) say(`  ${describeProblem(problem)}`);
    if (problems.length > 20) say(`  ... and ${problems.length - 20} more`);
  }
  if (validRows === 0) throw new UsageError(`${input.catalogPath} has no row that can be converted.`);
}

/** Starts the conversion and (optionally) waits for it; shared by `convert` and `demo`. */
export async function runConversion(
  client: Client,
  prepared: PreparedConversion,
  options: { wait: boolean; json: boolean },
): Promise<CatalogResult | undefined> {
  const { input } = prepared;
  const handle = await startCatalogConversion(client, input);
  if (!options.wait) {
    if (options.json) console.log(JSON.stringify({ catalogId: input.catalogId, workflowId: handle.workflowId, runId: handle.firstExecutionRunId }));
    else console.log(`Started ${catalogWorkflowId(input.catalogId)}. Watch it with: trellis status ${input.catalogId}`);
    return undefined;
  }
  const result = await watchCatalog(client, input.catalogId, { live: !options.json });
  console.log(options.json ? JSON.stringify(result, null, 2) : summarizeResult(result));
  return result;
}

export function exitCodeOf(result: CatalogResult | undefined, prepared: PreparedConversion): number {
  if (!result) return 0;
  return result.counts.failed > 0 || prepared.problems.length > 0 || result.status !== 'completed' ? 1 : 0;
}

/**
 * Workers call the service, not this CLI; but when the service URL is configured here too, an
 * unreachable service is reported now instead of after every asset has exhausted its retries.
 */
export async function checkServiceIfConfigured(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (!env[API_URL_ENV]) return;
  try {
    // One retry only: a user waiting at the prompt should hear about a wrong URL in seconds.
    await new TrellisClient({ env, retry: { maxAttempts: 2 } }).health({ timeoutMs: 15_000 });
  } catch (error) {
    throw new UsageError(
      `The TRELLIS.2 service at ${env[API_URL_ENV]} does not answer: ${(error as Error).message}\n` +
        'Start it (`npm run service`, or deploy gpu-modal to Modal), fix TRELLIS2_API_URL, or unset it here if only the workers can reach the service.',
    );
  }
}

export async function convertCommand(args: string[]): Promise<number> {
  const { flags, wait, json, notify } = parseConversionArgs(args);
  const prepared = withNotify(await prepareConversion(flags), notify);
  reportProblems(prepared, (message) => console.error(message));
  await checkServiceIfConfigured();
  const client = await connectClient();
  try {
    return exitCodeOf(await runConversion(client, prepared, { wait, json }), prepared);
  } finally {
    await client.connection.close();
  }
}
