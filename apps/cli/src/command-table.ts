// Every `trellis` command in one table: main.ts dispatches from it, `trellis --help` lists it, and each
// command's own `--help` is its `usage`. A test checks each usage names every option the command parses,
// so a new command or flag cannot be missing from the help.
import { convertCommand, convertOptions, convertUsage } from './commands/convert';
import { dashboardCommand, dashboardOptions, dashboardUsage } from './commands/dashboard';
import { estimateCommand, estimateOptions, estimateUsage } from './commands/estimate';
import { demoCommand, demoOptions, demoUsage, devCommand, devUsage, untilInterrupted } from './commands/local';
import { reviewCommand, reviewOptions, reviewUsage } from './commands/review';
import { catalogCommandOptions, catalogCommandUsage, controlCommand, reportCommand, statusCommand } from './commands/manage';

export interface CommandEntry {
  /** One line in `trellis --help`: the synopsis and what it does. */
  synopsis: string;
  summary: string;
  /** The command's own help (`trellis <command> --help`). */
  usage: string;
  /** The options its parser accepts (node:util parseArgs config), checked against `usage` by a test. */
  options: Record<string, { type: 'string' | 'boolean' }>;
  run(args: string[]): Promise<number>;
}

export const commands: Record<string, CommandEntry> = {
  convert: {
    synopsis: 'convert <catalog> --out DIR',
    summary: 'convert a catalog to GLBs on Temporal',
    usage: convertUsage,
    options: convertOptions,
    run: convertCommand,
  },
  estimate: {
    synopsis: 'estimate <catalog> [--out DIR]',
    summary: 'rows, GPU seconds and cost before running (done work subtracted)',
    usage: estimateUsage,
    options: estimateOptions,
    run: estimateCommand,
  },
  status: {
    synopsis: 'status <catalog-id> [--watch]',
    summary: 'progress of a running catalog, or the result of a finished one',
    usage: catalogCommandUsage.status,
    options: catalogCommandOptions.status,
    run: statusCommand,
  },
  pause: {
    synopsis: 'pause <catalog-id>',
    summary: 'stop starting new assets (running ones finish)',
    usage: catalogCommandUsage.pause,
    options: catalogCommandOptions.pause,
    run: (args) => controlCommand('pause', args),
  },
  resume: {
    synopsis: 'resume <catalog-id> [--max-cost USD]',
    summary: 'start new assets again (past a cost budget, or with a new one)',
    usage: catalogCommandUsage.resume,
    options: catalogCommandOptions.resume,
    run: (args) => controlCommand('resume', args),
  },
  cancel: {
    synopsis: 'cancel <catalog-id>',
    summary: 'stop the catalog; the report is still written',
    usage: catalogCommandUsage.cancel,
    options: catalogCommandOptions.cancel,
    run: (args) => controlCommand('cancel', args),
  },
  review: {
    synopsis: 'review <catalog-id> [--list] [--approve SKU]',
    summary: 'the models waiting for a person (--review), and the decisions on them',
    usage: reviewUsage,
    options: reviewOptions,
    run: reviewCommand,
  },
  report: {
    synopsis: 'report <catalog-id> [--out DIR] [--json]',
    summary: 'the report of a finished catalog (read from the output folder)',
    usage: catalogCommandUsage.report,
    options: catalogCommandOptions.report,
    run: reportCommand,
  },
  dev: {
    synopsis: 'dev',
    summary: 'run the local stack (Temporal dev server + Web UI, local service, worker)',
    usage: devUsage,
    options: {},
    run: () => devCommand(),
  },
  demo: {
    synopsis: 'demo [--catalog PATH] [--out DIR] [--watch]',
    summary: 'local stack + convert (default: the example catalog into out/)',
    usage: demoUsage,
    options: demoOptions,
    run: demoCommand,
  },
  dashboard: {
    synopsis: 'dashboard [--out DIR]',
    summary: 'the web dashboard on 127.0.0.1:8234',
    usage: dashboardUsage,
    options: dashboardOptions,
    run: (args) => dashboardCommand(args, untilInterrupted),
  },
};

export const generalUsage = [
  'usage: trellis <command> [options]        (`trellis <command> --help` for its options)',
  '',
  ...Object.values(commands).map(({ synopsis, summary }) => `  ${synopsis.padEnd(44)} ${summary}`),
  '',
  'Temporal: TEMPORAL_ADDRESS (default 127.0.0.1:7233), TEMPORAL_NAMESPACE, TEMPORAL_API_KEY or',
  'TEMPORAL_TLS_CLIENT_CERT_PATH/KEY_PATH for Temporal Cloud.',
].join('\n');
