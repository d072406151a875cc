// `trellis dev` (the local stack, for manual use) and `trellis demo` (the embedded default, end to end).
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '@trellis/devstack';
import { UsageError, prepareConversion } from '../conversion-input';
import { startLocalStack, type LocalStack } from '../local-stack';
import { exitCodeOf, reportProblems, runConversion } from './convert';
import { serveDashboard } from './dashboard';

const say = (message: string) => console.log(`trellis: ${message}`);

/** Named so the usual catalog id rule (the file's name) gives the demo's id, `example`, in every command. */
export const exampleCatalog = path.join(repoRoot, 'examples', 'catalog', 'example.csv');

export const devUsage = `trellis dev

  Starts the local stack for manual use: a Temporal dev server (with its Web UI), the TRELLIS.2 service
  on its local CPU backend, and a worker. Prints their addresses; Ctrl-C stops everything. No options.`;

export const demoUsage = `trellis demo [options]

  Starts the local stack (as \`trellis dev\`), converts a catalog and stops, or with --watch keeps
  running with the dashboard until Ctrl-C.

  --catalog PATH     the catalog to convert (default: the example catalog, examples/catalog/example.csv)
  --out DIR          output root (default: out/ in the repository)
  --catalog-id ID    default: from the catalog's file (or folder) name, as in \`trellis convert\`
  --presets LIST     comma-separated (default: each row's own, else fast,balanced,quality)
  --concurrency N    assets at once (default 4)
  --watch            keep the stack and the dashboard up after the run, until Ctrl-C`;

export const demoOptions = {
  catalog: { type: 'string' },
  out: { type: 'string' },
  'catalog-id': { type: 'string' },
  presets: { type: 'string' },
  concurrency: { type: 'string' },
  /** Keep the stack up after the run, with the dashboard, until Ctrl-C. */
  watch: { type: 'boolean', default: false },
} as const;

export function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

function describeStack(stack: LocalStack): string {
  return [
    `Temporal:   ${stack.temporal.address} (namespace ${stack.temporal.namespace})`,
    `Web UI:     ${stack.temporal.uiUrl}`,
    `Service:    ${stack.service.url} (relief CPU backend; logs in ${path.dirname(stack.service.process.logFile)})`,
  ].join('\n');
}

export async function devCommand(): Promise<number> {
  const stack = await startLocalStack({ say });
  console.log(`\n${describeStack(stack)}\n`);
  console.log(`In another terminal:\n  TEMPORAL_ADDRESS=${stack.temporal.address} npm run trellis -- convert <catalog> --out out/\n`);
  console.log('Ctrl-C stops everything.');
  await untilInterrupted();
  say('stopping ...');
  await stack.stop();
  return 0;
}

export async function demoCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: demoOptions });
  const catalog = values.catalog ?? exampleCatalog;
  const prepared = await prepareConversion({
    catalog,
    out: values.out ?? path.join(repoRoot, 'out'),
    catalogId: values['catalog-id'],
    presets: values.presets,
    concurrency: values.concurrency,
  });
  reportProblems(prepared, (message) => console.error(`trellis: ${message}`));
  if (prepared.validRows === 0) throw new UsageError('nothing to convert');

  const stack = await startLocalStack({ say });
  try {
    console.log(`\n${describeStack(stack)}\n`);
    // Port 8234 when free (a bookmarkable address), else any free port.
    const dashboard = values.watch
      ? await serveDashboard(stack.client, { outDir: prepared.input.outDir, port: 8234 }).catch(() =>
          serveDashboard(stack.client, { outDir: prepared.input.outDir, port: 0 }),
        )
      : undefined;
    if (dashboard) console.log(`Dashboard:  ${dashboard.url}#/catalog/${prepared.input.catalogId}\n`);
    say(`converting ${prepared.validRows} row(s) of ${prepared.input.catalogPath} into ${prepared.input.outDir}/${prepared.input.catalogId}/ ...`);
    const result = await runConversion(stack.client, prepared, { wait: true, json: false });
    if (result) {
      console.log(`\nGLBs and previews: ${prepared.input.outDir}/${prepared.input.catalogId}/<sku>/`);
      console.log(`Workflow history:  ${stack.temporal.uiUrl}/namespaces/${stack.temporal.namespace}/workflows (kept in ${path.dirname(stack.service.process.logFile)})`);
    }
    if (dashboard) {
      console.log(`\nDashboard: ${dashboard.url} (try one image there too). Ctrl-C stops everything.`);
      await untilInterrupted();
      await dashboard.close();
    }
    return exitCodeOf(result, prepared);
  } finally {
    say('stopping the local stack');
    await stack.stop();
  }
}
