// `trellis <command>`: convert catalogs to GLBs on Temporal, watch and steer them, or run it all locally.
import { CatalogFileError } from '@trellis/activities/files';
import { DashboardConfigError } from '@trellis/dashboard';
import { LocalStackError } from '@trellis/devstack';
import { TemporalSettingsError, TemporalUnreachableError } from '@trellis/temporal-connection';
import { CatalogAlreadyRunningError } from './api';
import { commands, generalUsage } from './command-table';
import { UsageError } from './conversion-input';

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(generalUsage);
    return command ? 0 : 2;
  }
  const entry = Object.hasOwn(commands, command) ? commands[command] : undefined;
  if (!entry) throw new UsageError(`unknown command "${command}"\n\n${generalUsage}`);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(entry.usage);
    return 0;
  }
  return entry.run(args);
}

/** Failures a user can fix (their input, flags, files or servers): one line, exit 2. Anything else is a bug. */
const expected = [UsageError, CatalogFileError, TemporalSettingsError, TemporalUnreachableError, CatalogAlreadyRunningError, DashboardConfigError, LocalStackError];
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
