// `trellis status|pause|resume|cancel|report <catalogId>`. `report` (and `status` of a finished catalog
// when Temporal is down) reads the output folder alone.
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { CatalogId, CatalogReport, type CatalogResult } from '@trellis/contracts';
import { connectClient, TemporalUnreachableError } from '@trellis/temporal-connection';
import { ZodError } from 'zod';
import { catalogReportKeys, catalogReportPaths, openOutputStore } from '@trellis/activities/files';
import { cancelCatalog, getCatalogHandle, getCatalogProgress, pauseCatalog, resumeCatalog } from '../api';
import { DEFAULT_OUT_DIR, outLocationOf, UsageError } from '../conversion-input';
import { formatProgress } from '../progress-view';
import { resultOfReport, summarizeResult, watchCatalog } from '../watch';

const outOption = { out: { type: 'string' } } as const;
const jsonOption = { json: { type: 'boolean', default: false } } as const;

/** Each command's own flags (its help lists exactly these). */
export const catalogCommandOptions = {
  status: { ...outOption, ...jsonOption, watch: { type: 'boolean', default: false } },
  pause: {},
  resume: { 'max-cost': { type: 'string' } },
  cancel: {},
  report: { ...outOption, ...jsonOption },
} as const;

const outHelp = `  --out DIR      the output root the catalog was converted into (default ${DEFAULT_OUT_DIR}/)`;
export const catalogCommandUsage = {
  status: `trellis status <catalog-id> [--out DIR] [--watch] [--json]

  Progress of a running catalog (from Temporal), or the result of a finished one. A finished catalog's
  result is read from DIR/<catalog-id>/report.json when Temporal cannot be reached.
${outHelp}
  --watch        redraw the progress until the catalog finishes
  --json         print it as JSON`,
  pause: `trellis pause <catalog-id>

  Stops starting new assets; running ones finish. \`trellis resume\` continues.`,
  resume: `trellis resume <catalog-id> [--max-cost USD]

  Starts new assets again. After a pause by the cost budget, the budget is lifted unless a new one is given.
  --max-cost USD  go on with this budget`,
  cancel: `trellis cancel <catalog-id>

  Stops the catalog: running assets are cancelled; the report is still written.`,
  report: `trellis report <catalog-id> [--out DIR] [--json]

  The report of a finished catalog, read from DIR/<catalog-id>/report.json: no server is needed.
${outHelp}
  --json         print the whole report as JSON`,
} as const;

type CatalogCommand = keyof typeof catalogCommandOptions;

function parseCatalogArgs<Command extends CatalogCommand>(command: Command, args: string[]) {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: catalogCommandOptions[command] as Record<string, { type: 'string' | 'boolean' }> });
  const flags = values as { json?: boolean; watch?: boolean; out?: string; 'max-cost'?: string };
  const maxCostUsd = flags['max-cost'] === undefined ? undefined : Number(flags['max-cost']);
  if (maxCostUsd !== undefined && !(maxCostUsd > 0)) throw new UsageError(`--max-cost must be a positive amount in USD (got "${flags['max-cost']}")`);
  const parsed = CatalogId.safeParse(positionals[0]);
  if (!parsed.success || positionals.length !== 1) throw new UsageError(`give one catalog id\n\n${catalogCommandUsage[command]}`);
  return { catalogId: parsed.data, json: flags.json ?? false, watch: flags.watch ?? false, outDir: flags.out ?? DEFAULT_OUT_DIR, maxCostUsd };
}

/** The report a finished run left in the output folder, or undefined when there is none. */
async function reportOnDisk(outDir: string, catalogId: string): Promise<{ report: CatalogReport; result: CatalogResult } | undefined> {
  const location = outLocationOf(outDir, '--out');
  const paths = catalogReportPaths(location, catalogId);
  const bytes = await openOutputStore(location).getBytes(catalogReportKeys(catalogId).json).catch(() => undefined);
  if (bytes === undefined) return undefined;
  const text = bytes.toString('utf8');
  let report: CatalogReport;
  try {
    report = CatalogReport.parse(JSON.parse(text));
  } catch (error) {
    const why = error instanceof ZodError
      ? error.issues.slice(0, 3).map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`).join('; ')
      : (error as Error).message;
    throw new UsageError(`${paths.json} is not a report this version can read (${why}).`);
  }
  return { report, result: resultOfReport(report, paths) };
}

async function withClient<T>(body: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectClient();
  return withConnectedClient(client, () => body(client));
}

async function withConnectedClient<T>(client: Client, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new UsageError(`No catalog conversion found for that id. Start one with \`trellis convert\`.`);
    throw error;
  } finally {
    await client.connection.close();
  }
}

async function finishedResult(client: Client, catalogId: string): Promise<CatalogResult | undefined> {
  const description = await getCatalogHandle(client, catalogId).describe();
  return description.status.name === 'RUNNING' ? undefined : getCatalogHandle(client, catalogId).result();
}

export async function statusCommand(args: string[]): Promise<number> {
  const { catalogId, json, watch, outDir } = parseCatalogArgs('status', args);
  let client: Client;
  try {
    client = await connectClient();
  } catch (error) {
    // Without Temporal, a finished catalog still has its answer on disk.
    const onDisk = error instanceof TemporalUnreachableError ? await reportOnDisk(outDir, catalogId) : undefined;
    if (!onDisk) throw error;
    console.log(json ? JSON.stringify(onDisk.result, null, 2) : summarizeResult(onDisk.result));
    return 0;
  }
  return withConnectedClient(client, async () => {
    const finished = await finishedResult(client, catalogId).catch(async (error: unknown) => {
      // This Temporal never ran it (another dev server, history cleared): the output folder still knows.
      const onDisk = error instanceof WorkflowNotFoundError ? await reportOnDisk(outDir, catalogId) : undefined;
      if (!onDisk) throw error;
      return onDisk.result;
    });
    if (finished) {
      console.log(json ? JSON.stringify(finished, null, 2) : summarizeResult(finished));
      return 0;
    }
    if (watch) {
      const result = await watchCatalog(client, catalogId, { live: !json });
      console.log(json ? JSON.stringify(result, null, 2) : summarizeResult(result));
      return 0;
    }
    const progress = await getCatalogProgress(client, catalogId);
    console.log(json ? JSON.stringify(progress, null, 2) : formatProgress(progress));
    return 0;
  });
}

export async function controlCommand(command: 'pause' | 'resume' | 'cancel', args: string[]): Promise<number> {
  const { catalogId, maxCostUsd } = parseCatalogArgs(command, args);
  return withClient(async (client) => {
    if (command === 'resume') await resumeCatalog(client, catalogId, maxCostUsd === undefined ? {} : { maxCostUsd });
    else await { pause: pauseCatalog, cancel: cancelCatalog }[command](client, catalogId);
    const said = {
      pause: 'Paused: running assets finish, no new ones start. `trellis resume` continues.',
      resume: maxCostUsd === undefined ? 'Resumed (a cost budget that paused it no longer applies).' : `Resumed with a budget of $${maxCostUsd}.`,
      cancel: 'Cancelling: running assets stop, the report is still written.',
    }[command];
    console.log(`${catalogId}: ${said}`);
    return 0;
  });
}

export async function reportCommand(args: string[]): Promise<number> {
  const { catalogId, json, outDir } = parseCatalogArgs('report', args);
  const onDisk = await reportOnDisk(outDir, catalogId);
  if (!onDisk) {
    throw new UsageError(
      `No report for catalog ${catalogId} in ${catalogReportPaths(outDir, catalogId).json}: it is written when the catalog finishes. ` +
        `Give the folder it was converted into with --out DIR, or see \`trellis status ${catalogId}\` while it runs.`,
    );
  }
  const { report, result } = onDisk;
  if (json) {
    console.log(JSON.stringify(report, null, 2));
    return 0;
  }
  console.log(summarizeResult(result));
  const troubled = report.rows.filter((row) => row.status === 'failed' || row.status === 'invalid');
  for (const row of troubled) console.log(`  row ${row.row} ${row.sku}: ${row.status}: ${row.error ?? ''}`);
  return 0;
}
