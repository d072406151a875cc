// `trellis status|pause|resume|cancel|report <catalogId>`.
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { CatalogId, CatalogReport, type CatalogResult } from '@trellis/contracts';
import fs from 'node:fs/promises';
import { cancelCatalog, getCatalogHandle, getCatalogProgress, pauseCatalog, resumeCatalog } from '../api';
import { UsageError } from '../conversion-input';
import { formatProgress } from '../progress-view';
import { connectTemporal } from '../temporal-client';
import { summarizeResult, watchCatalog } from '../watch';

function parseCatalogArgs(command: string, args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, watch: { type: 'boolean', default: false }, 'max-cost': { type: 'string' } },
  });
  if (values['max-cost'] !== undefined && command !== 'resume') throw new UsageError(`--max-cost goes with \`trellis resume\` (or \`trellis convert\`)`);
  const maxCostUsd = values['max-cost'] === undefined ? undefined : Number(values['max-cost']);
  if (maxCostUsd !== undefined && !(maxCostUsd > 0)) throw new UsageError(`--max-cost must be a positive amount in USD (got "${values['max-cost']}")`);
  const parsed = CatalogId.safeParse(positionals[0]);
  if (!parsed.success || positionals.length !== 1) throw new UsageError(`usage: trellis ${command} <catalog-id>`);
  return { catalogId: parsed.data, json: values.json, watch: values.watch, maxCostUsd };
}

async function withClient<T>(body: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectTemporal();
  try {
    return await body(client);
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
  const { catalogId, json, watch } = parseCatalogArgs('status', args);
  return withClient(async (client) => {
    const finished = await finishedResult(client, catalogId);
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
  const { catalogId, json } = parseCatalogArgs('report', args);
  return withClient(async (client) => {
    const result = await finishedResult(client, catalogId);
    if (!result) throw new UsageError(`Catalog ${catalogId} is still running; see \`trellis status ${catalogId}\`.`);
    const report = CatalogReport.parse(JSON.parse(await fs.readFile(result.reportJsonPath, 'utf8')));
    if (json) {
      console.log(JSON.stringify(report, null, 2));
      return 0;
    }
    console.log(summarizeResult(result));
    const troubled = report.rows.filter((row) => row.status === 'failed' || row.status === 'invalid');
    for (const row of troubled) console.log(`  row ${row.row} ${row.sku}: ${row.status}: ${row.error ?? ''}`);
    return 0;
  });
}
