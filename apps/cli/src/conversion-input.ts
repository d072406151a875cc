// Turns `trellis convert` flags into a checked workflow input, reading the catalog once up front so bad
// rows are reported before anything starts.
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  CatalogId,
  CatalogReadOptions,
  ConvertCatalogInput,
  DEFAULT_PIPELINE_TYPE,
  DEFAULT_PRESET_NAMES,
  DEFAULT_SEED,
  PipelineType,
  PresetsFile,
  SamplerSettings,
  Seed,
  builtInPresets,
  resolveChannels,
  resolvePresets,
  type CatalogRow,
  type ChannelProfile,
  type NamedChannel,
  type CatalogRowProblem,
  type ConvertCatalogParams,
  DEFAULT_REVIEW_MODE,
  ReviewDeadlinePolicy,
  ReviewMode,
  ReviewSettings,
} from '@trellis/contracts';
import { readCatalog, withCatalogFile } from '@trellis/activities/files';
import { isS3Location, parseOutLocation } from '@trellis/output-store';
import { z } from 'zod';

export interface ConversionFlags {
  catalog: string;
  out: string;
  catalogId?: string;
  presets?: string;
  presetsFile?: string;
  pipeline?: string;
  seed?: string;
  concurrency?: string;
  /** Rows started beyond --concurrency so containers find their next job queued (see ConvertCatalogInput). */
  lookahead?: string;
  /** .xlsx sheet name (default: the first sheet). */
  sheet?: string;
  skuColumn?: string;
  imageColumn?: string;
  imagePosition?: string;
  /** Budget in USD: the catalog pauses before its estimated cost would pass it. */
  maxCost?: string;
  /** Channel files to make per SKU: built-in (web, shopify, google, amazon) or the presets file's. */
  channels?: string;
  /** Review mode: off (default), flagged, all. */
  review?: string;
  /** Hours an asset waits for a review decision before the policy decides. */
  reviewDeadline?: string;
  /** approve | reject: what the deadline decides. */
  reviewOnDeadline?: string;
}

export interface PreparedConversion {
  input: ConvertCatalogParams;
  validRows: number;
  problems: CatalogRowProblem[];
  /** The valid rows as read here (for `trellis estimate`; the workflow reads its own snapshot). */
  rows: CatalogRow[];
}

export class UsageError extends Error {}

/** The output root of `report`, `status`, `estimate` and `dashboard` when no --out is given (the demo's, run from the repository). */
export const DEFAULT_OUT_DIR = 'out';

/** A catalog id from the catalog's name: `spring-2026.csv` → `spring-2026`; `.../shoes/catalog.csv` → `shoes`. */
export function catalogIdFromPath(catalogPath: string): string {
  const stem = path.basename(catalogPath, path.extname(catalogPath));
  const name = stem.toLowerCase() === 'catalog' ? path.basename(path.dirname(catalogPath)) : stem;
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  return slug || 'catalog';
}

function parseFlag<T>(schema: { safeParse(value: unknown): { success: true; data: T } | { success: false } }, value: unknown, message: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new UsageError(message);
  return parsed.data;
}

async function readPresetsFile(file: string): Promise<PresetsFile> {
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`Cannot read the presets file ${file}: ${(error as Error).message}`);
  }
  const parsed = PresetsFile.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`).join('; ');
    throw new UsageError(
      `The presets file ${file} is not valid (${issues}). Expected {"presets": {"name": {"decimation_target": 20000, "texture_size": 1024}}}` +
        ` and/or {"channels": {"name": {"source_preset": "balanced", "max_triangles": 100000, "texture_size": 2048, "texture_format": "webp", "compression": "meshopt", "max_bytes": 5000000}}}.`,
    );
  }
  return parsed.data;
}

export async function prepareConversion(flags: ConversionFlags): Promise<PreparedConversion> {
  // Local paths are made absolute (workers may run elsewhere); s3:// locations are checked and kept as given.
  const catalogPath = outLocationOf(flags.catalog, '--catalog');
  const outDir = outLocationOf(flags.out, '--out');
  const catalogId = parseFlag(
    CatalogId,
    flags.catalogId ?? catalogIdFromPath(catalogPath),
    `--catalog-id "${flags.catalogId}" is not valid: use 1-63 lowercase letters, digits or "-".`,
  );
  const presetsFile = flags.presetsFile ? await readPresetsFile(path.resolve(flags.presetsFile)) : undefined;
  const custom = presetsFile?.presets ?? {};
  const known = { ...builtInPresets, ...custom };
  const channels = channelsOf(flags.channels, presetsFile?.channels, known);
  // A channel file is made from its source preset's GLB, so that preset is extracted too.
  const defaultPresetNames = [
    ...new Set([
      ...(flags.presets ? flags.presets.split(/[,|\s]+/).filter(Boolean) : DEFAULT_PRESET_NAMES),
      ...channels.map((channel) => channel.profile.source_preset),
    ]),
  ];
  try {
    resolvePresets(defaultPresetNames, custom);
  } catch (error) {
    throw new UsageError(`--presets: ${(error as Error).message}`);
  }
  const pipelineType = parseFlag(
    PipelineType,
    flags.pipeline ?? DEFAULT_PIPELINE_TYPE,
    `--pipeline "${flags.pipeline}" is not one of ${PipelineType.options.join(', ')}.`,
  );
  // A blank `--seed=` is an error, not seed 0 (Number('') is 0).
  const seedValue = flags.seed === undefined ? DEFAULT_SEED : flags.seed.trim() === '' ? Number.NaN : Number(flags.seed);
  const seed = parseFlag(Seed, seedValue, `--seed must be an integer from 0 to 2147483647.`);
  const concurrency = flags.concurrency === undefined ? undefined : Number(flags.concurrency);
  const lookahead = flags.lookahead === undefined ? undefined : Number(flags.lookahead);

  const catalogOptions = catalogReadOptionsOf(flags);
  const maxCostUsd = flags.maxCost === undefined ? undefined : parseFlag(
    z.coerce.number().positive(),
    flags.maxCost,
    `--max-cost must be a positive amount in USD, e.g. --max-cost 25 (got "${flags.maxCost}").`,
  );
  const review = reviewSettingsOf(flags);
  const catalog = await withCatalogFile(catalogPath, (file) => readCatalog(file, catalogOptions));
  const problems = [...catalog.problems];
  let validRows = 0;
  // Rows may name presets of their own; unknown names are caught here and again in the workflow.
  for (const row of catalog.rows) {
    const unknown = (row.presets ?? []).filter((name) => !Object.hasOwn(known, name));
    if (unknown.length === 0) {
      validRows += 1;
      continue;
    }
    problems.push({
      row: row.row,
      sku: row.sku,
      field: 'presets',
      message: `unknown preset ${unknown.join(', ')}; known: ${Object.keys(known).join(', ')}`,
    });
  }
  const input = ConvertCatalogInput.safeParse({
    catalogId,
    catalogPath,
    outDir,
    settings: {
      presets: resolvePresets(Object.keys(known), custom),
      defaultPresetNames,
      pipelineType,
      seed,
      sampler: SamplerSettings.parse({}),
      ...(channels.length > 0 ? { channels } : {}),
    },
    ...(concurrency === undefined ? {} : { concurrency }),
    ...(lookahead === undefined ? {} : { lookahead }),
    ...(Object.keys(catalogOptions).length > 0 ? { catalog: catalogOptions } : {}),
    ...(maxCostUsd === undefined ? {} : { maxCostUsd }),
    ...(review ? { review } : {}),
  });
  if (!input.success) {
    throw new UsageError(input.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
  }
  return { input: input.data, validRows, problems, rows: catalog.rows };
}

/** --review, --review-deadline, --review-on-deadline; undefined when review is off and nothing else was asked. */
export function reviewSettingsOf(flags: Pick<ConversionFlags, 'review' | 'reviewDeadline' | 'reviewOnDeadline'>): ReviewSettings | undefined {
  const mode = parseFlag(ReviewMode, flags.review ?? DEFAULT_REVIEW_MODE, `--review "${flags.review}" is not one of ${ReviewMode.options.join(', ')}.`);
  if (mode === 'off') {
    if (flags.reviewDeadline !== undefined || flags.reviewOnDeadline !== undefined) {
      throw new UsageError('--review-deadline and --review-on-deadline apply in review mode: add --review flagged (or all).');
    }
    return undefined;
  }
  const deadlineHours = flags.reviewDeadline === undefined ? undefined : parseFlag(
    ReviewSettings.shape.deadlineHours,
    Number(flags.reviewDeadline),
    `--review-deadline must be a number of hours above 0, at most ${90 * 24} (got "${flags.reviewDeadline}").`,
  );
  const onDeadline = flags.reviewOnDeadline === undefined ? undefined : parseFlag(
    ReviewDeadlinePolicy,
    flags.reviewOnDeadline,
    `--review-on-deadline "${flags.reviewOnDeadline}" is not one of ${ReviewDeadlinePolicy.options.join(', ')}.`,
  );
  return ReviewSettings.parse({ mode, ...(deadlineHours === undefined ? {} : { deadlineHours }), ...(onDeadline ? { onDeadline } : {}) });
}

/** A folder path (made absolute) or an s3://bucket/prefix location (checked, kept as given). */
export function outLocationOf(value: string, flag: string): string {
  try {
    const parsed = parseOutLocation(value);
    return parsed.kind === 'local' ? parsed.root : isS3Location(value) ? value.replace(/\/+$/, '') : value;
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
}

/** --channels against the built-ins and the presets file's own channel profiles. */
function channelsOf(list: string | undefined, custom: Record<string, ChannelProfile> | undefined, presets: Record<string, unknown>): NamedChannel[] {
  if (list === undefined) return [];
  const names = list.split(/[,|\s]+/).filter(Boolean);
  if (names.length === 0) throw new UsageError(`--channels needs a list, e.g. --channels web,shopify,google,amazon`);
  try {
    const channels = resolveChannels(names, custom);
    const unknownSources = channels.filter((channel) => !Object.hasOwn(presets, channel.profile.source_preset));
    if (unknownSources.length > 0) {
      throw new Error(unknownSources.map((c) => `channel ${c.name} names source preset "${c.profile.source_preset}", which is not a preset`).join('; '));
    }
    return channels;
  } catch (error) {
    throw new UsageError(`--channels: ${(error as Error).message}`);
  }
}

/** --sheet, --sku-column, --image-column, --image-position as the catalog reader's options. */
export function catalogReadOptionsOf(flags: Pick<ConversionFlags, 'sheet' | 'skuColumn' | 'imageColumn' | 'imagePosition'>): CatalogReadOptions {
  const imagePosition = flags.imagePosition === undefined
    ? undefined
    : parseFlag(z.coerce.number().int().min(1), flags.imagePosition, `--image-position must be a whole number from 1 (got "${flags.imagePosition}").`);
  const parsed = CatalogReadOptions.safeParse({ sheet: flags.sheet, skuColumn: flags.skuColumn, imageColumn: flags.imageColumn, imagePosition });
  if (!parsed.success) throw new UsageError(`--sheet/--sku-column/--image-column: ${parsed.error.issues[0]?.message}`);
  return Object.fromEntries(Object.entries(parsed.data).filter(([, value]) => value !== undefined));
}

export function describeProblem(problem: CatalogRowProblem): string {
  const sku = problem.sku ? ` (SKU ${problem.sku})` : '';
  return `row ${problem.row}${sku}, field ${problem.field}: ${problem.message}`;
}
