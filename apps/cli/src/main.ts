// `trellis <command>`: convert catalogs to GLBs on Temporal, watch and steer them, or run it all locally.
import { CatalogFileError } from '@trellis/activities/files';
import { CatalogAlreadyRunningError } from './api';
import { convertCommand } from './commands/convert';
import { dashboardCommand, dashboardUsage } from './commands/dashboard';
import { estimateCommand, estimateUsage } from './commands/estimate';
import { devCommand, demoCommand, untilInterrupted } from './commands/local';
import { controlCommand, reportCommand, statusCommand } from './commands/manage';
import { UsageError } from './conversion-input';
import { TemporalUnreachableError } from './temporal-client';

const usage = `usage: trellis <command> [options]

  convert <catalog> --out DIR   convert a catalog (see \`trellis convert --help\`)
  status <catalog-id> [--watch] progress of a running catalog, or its result
  pause | resume <catalog-id>   stop / restart starting new assets
                                (resume [--max-cost USD]: past a cost budget, or with a new one)
  cancel <catalog-id>           stop the catalog; the report is still written
  report <catalog-id> [--json]  the report of a finished catalog
  dev                           run the local stack (Temporal dev server + Web UI, local service, worker)
  demo [--catalog PATH] [--out DIR] [--watch]   local stack + convert (default: the example catalog into out/);
                                --watch keeps it up with the dashboard until Ctrl-C
  dashboard [--out DIR]         the web dashboard on 127.0.0.1:8234 (see \`trellis dashboard --help\`)

Temporal: TEMPORAL_ADDRESS (default 127.0.0.1:7233), TEMPORAL_NAMESPACE, TEMPORAL_API_KEY or
TEMPORAL_TLS_CLIENT_CERT_PATH/KEY_PATH for Temporal Cloud.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(usage);
    return command ? 0 : 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    const { convertUsage } = await import('./commands/convert');
    console.log(command === 'convert' ? convertUsage : command === 'estimate' ? estimateUsage : command === 'dashboard' ? dashboardUsage : usage);
    return 0;
  }
  switch (command) {
    case 'convert':
      return convertCommand(args);
    case 'estimate':
      return estimateCommand(args);
    case 'status':
      return statusCommand(args);
    case 'pause':
    case 'resume':
    case 'cancel':
      return controlCommand(command, args);
    case 'report':
      return reportCommand(args);
    case 'dev':
      return devCommand();
    case 'demo':
      return demoCommand(args);
    case 'dashboard':
      return dashboardCommand(args, untilInterrupted);
    default:
      throw new UsageError(`unknown command "${command}"\n\n${usage}`);
  }
}

const expected = [UsageError, CatalogFileError, TemporalUnreachableError, CatalogAlreadyRunningError];
/** node:util parseArgs throws TypeErrors with these codes for unknown options or missing values. */
const isArgumentError = (error: unknown) => String((error as { code?: unknown } | null)?.code ?? '').startsWith('ERR_PARSE_ARGS_');

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (expected.some((kind) => error instanceof kind) || isArgumentError(error)) {
      console.error(`trellis: ${(error as Error).message}`);
      process.exit(2);
    }
    console.error(error);
    process.exit(1);
  },
);
