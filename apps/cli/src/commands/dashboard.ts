// `trellis dashboard`: the web dashboard against TEMPORAL_ADDRESS, serving one output folder. Also used by
// `trellis demo --watch`. "Try one image" starts conversions through the same start API as `convert`.
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { DashboardConfigError, TOKEN_ENV, checkBinding, parseNamedToken, startDashboard, type Dashboard, type NamedToken, type ReviewerHeaderRule } from '@trellis/dashboard';
import { connectClient } from '@trellis/temporal-connection';
import { startCatalogConversion } from '../api';
import { UsageError, outLocationOf, prepareConversion } from '../conversion-input';

export const dashboardUsage = `trellis dashboard [--out DIR] [--host H] [--port N] [--token T]

  --out DIR     the output root the conversions write to (default out/); only catalogs with outputs
                in it are listed, and only files in it are served
  --host H      default 127.0.0.1; any other address needs a token
  --port N      default 8234 (0: any free port)
  --token T     required when --host is not loopback (or ${TOKEN_ENV}); open the page with ?token=T
  --reviewer-token NAME=T   a token of its own for one reviewer (repeatable): review decisions sent
                with it are recorded under NAME (with --token they are recorded as "shared token";
                on 127.0.0.1 without tokens, as this machine's user)
  --reviewer-header H       a header naming the reviewer (e.g. X-Forwarded-User), set by an
                authenticating proxy; believed only on connections from a --trusted-proxy address
  --trusted-proxy ADDR      the proxy's address as the dashboard sees it (repeatable)`;

export interface ServeDashboardOptions {
  outDir: string;
  host?: string;
  port?: number;
  token?: string;
  namedTokens?: NamedToken[];
  reviewerHeader?: ReviewerHeaderRule;
  taskQueue?: string;
}

/** The dashboard wired to this client, starting "try one image" catalogs like `trellis convert` does. */
export function serveDashboard(client: Client, options: ServeDashboardOptions): Promise<Dashboard> {
  const outDir = outLocationOf(options.outDir, '--out');
  return startDashboard({
    client,
    outDir,
    host: options.host,
    port: options.port,
    token: options.token,
    namedTokens: options.namedTokens,
    reviewerHeader: options.reviewerHeader,
    startCatalog: async ({ catalogPath, catalogId, pipeline, presets }) => {
      const prepared = await prepareConversion({ catalog: catalogPath, out: outDir, catalogId, pipeline, presets: presets.join(',') });
      if (prepared.validRows === 0) throw new UsageError(prepared.problems.map((problem) => problem.message).join('; '));
      await startCatalogConversion(client, prepared.input, { taskQueue: options.taskQueue });
    },
  });
}

export const dashboardOptions = {
  out: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  token: { type: 'string' },
  'reviewer-token': { type: 'string', multiple: true },
  'reviewer-header': { type: 'string' },
  'trusted-proxy': { type: 'string', multiple: true },
} as const;

/** The header rule, or why the flags do not make one (a header with no proxy to trust, or the reverse). */
function reviewerHeaderRule(header: string | undefined, proxies: string[] | undefined): ReviewerHeaderRule | undefined {
  if (!header && !proxies?.length) return undefined;
  if (!header || !proxies?.length) throw new DashboardConfigError('--reviewer-header and --trusted-proxy go together: the header is believed only from the proxy that sets it.');
  if (!/^[A-Za-z0-9-]+$/.test(header)) throw new DashboardConfigError(`--reviewer-header ${JSON.stringify(header)} is not a header name`);
  return { header, trustedProxies: proxies };
}

export async function dashboardCommand(args: string[], untilInterrupted: () => Promise<void>): Promise<number> {
  const { values } = parseArgs({ args, options: dashboardOptions });
  const port = Number(values.port ?? 8234);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0-65535\n\n${dashboardUsage}`);
  const token = values.token ?? process.env[TOKEN_ENV];
  const namedTokens = (values['reviewer-token'] ?? []).map(parseNamedToken);
  const reviewerHeader = reviewerHeaderRule(values['reviewer-header'], values['trusted-proxy']);
  // An unsafe binding is refused before anything else is contacted.
  checkBinding(values.host ?? '127.0.0.1', token, namedTokens);
  const client = await connectClient();
  try {
    const dashboard = await serveDashboard(client, {
      outDir: values.out ?? 'out',
      host: values.host,
      port,
      token,
      namedTokens,
      reviewerHeader,
    }).catch((error: unknown) => {
      if ((error as { code?: unknown }).code === 'EADDRINUSE') throw new UsageError(`port ${port} is in use; choose another with --port N (0: any free port)`);
      throw error;
    });
    console.log(`Dashboard: ${dashboard.url}${values.host && values.token ? '?token=<your token>' : ''}\nCtrl-C stops it.`);
    await untilInterrupted();
    await dashboard.close();
    return 0;
  } finally {
    await client.connection.close();
  }
}
