// Every expected failure of every command (bad flags, unreachable servers, unsafe bindings, bad files)
// is one line on stderr starting "trellis: " and exit code 2; no stack trace. Each case is a real
// `trellis` process. And `report`/`status` of a finished catalog answer from the output folder alone.
import fs from 'node:fs';
import path from 'node:path';
import { CatalogReport, describeUsage } from '@trellis/contracts';
import { describe, expect, it } from 'vitest';
import { closedPort, exampleCatalog, runCli, tempDir } from './helpers';

const oneLine = (stderr: string) => stderr.trimEnd().split('\n');

describe('expected errors: one clear line and exit 2', () => {
  it('bad flags, unsafe bindings, bad files and unreachable servers of every command', async () => {
    const dir = await tempDir();
    const temporalDown = { TEMPORAL_ADDRESS: `127.0.0.1:${await closedPort()}` };
    const badJson = path.join(dir, 'broken', 'report.json');
    fs.mkdirSync(path.dirname(badJson), { recursive: true });
    fs.writeFileSync(badJson, '{"not": "a report"}');
    const profileFile = path.join(dir, 'temporal.toml');
    fs.writeFileSync(profileFile, '[profile.default]\naddress = "127.0.0.1:7233"\n');
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['dashboard', '--host', '0.0.0.0'], temporalDown, /^trellis: The dashboard is bound to 0\.0\.0\.0, which other machines can reach/],
      [['dashboard', '--host', '0.0.0.0', '--token', 'short'], temporalDown, /^trellis: The dashboard token must be at least 16 characters\.$/],
      [['dashboard', '--port', '99999'], temporalDown, /^trellis: --port must be 0-65535/],
      [['dashboard', '--reviewer-header', 'X-Forwarded-User'], temporalDown, /^trellis: --reviewer-header and --trusted-proxy go together/],
      [['dashboard', '--reviewer-token', 'alice'], temporalDown, /^trellis: --reviewer-token takes NAME=TOKEN/],
      [['dashboard', '--host', '0.0.0.0', '--reviewer-token', 'alice=short'], temporalDown, /^trellis: The token of reviewer "alice" must be at least 16 characters\.$/],
      [['status', 'spring', '--colour'], {}, /^trellis: Unknown option '--colour'/],
      [['pause', 'spring', '--max-cost', '5'], temporalDown, /^trellis: Unknown option '--max-cost'/],
      [['report', 'Not_An_Id'], {}, /^trellis: give one catalog id$/],
      [['report', 'spring', '--out', dir], {}, /^trellis: No report for catalog spring in .*spring\/report\.json: it is written when the catalog finishes\./],
      [['report', 'broken', '--out', dir], {}, /^trellis: .*broken\/report\.json is not a report this version can read \(catalogId: /],
      [['status', 'spring', '--out', dir], temporalDown, /^trellis: Cannot reach Temporal at 127\.0\.0\.1:\d+/],
      [['estimate', path.join(dir, 'missing.csv')], {}, /^trellis: catalog file .*missing\.csv does not exist/],
      [['estimate', path.join(dir, 'missing.csv'), '--pipeline', '999'], {}, /^trellis: --pipeline "999" is not one of/],
      [['demo', '--catalog', path.join(dir, 'missing.csv')], {}, /^trellis: catalog file .*missing\.csv does not exist/],
      [['convert', path.join(dir, 'missing.csv')], {}, /^trellis: --out DIR is required$/],
      [['dev'], { TEMPORAL_CLI: path.join(dir, 'no-such-temporal') }, /^trellis: TEMPORAL_CLI=.*no-such-temporal is not an executable file\./],
      [['status', 'spring'], { TEMPORAL_TLS: 'yes' }, /^trellis: Invalid Temporal settings in the environment: TEMPORAL_TLS: /],
      [['status', 'spring'], { TEMPORAL_CONFIG_FILE: profileFile, TEMPORAL_PROFILE: 'prod' }, /^trellis: Cannot read the Temporal settings .*Profile 'prod' not found/],
    ];
    // Four at a time: each is a Node process (~1.5 s of CPU to start) on a small shared machine.
    const runs: Awaited<ReturnType<typeof runCli>>[] = [];
    for (let start = 0; start < cases.length; start += 4) {
      runs.push(...(await Promise.all(cases.slice(start, start + 4).map(([args, env]) => runCli(args, env, 60_000)))));
    }
    for (const [index, run] of runs.entries()) {
      const [args, , message] = cases[index]!;
      const label = `trellis ${args.join(' ')}`;
      expect(run.code, `${label}: ${run.stderr}`).toBe(2);
      expect(oneLine(run.stderr)[0], label).toMatch(message);
      expect(run.stderr, label).not.toMatch(/^\s+at /m);
    }
  }, 180_000);
});

describe('report and status of a finished catalog from the output folder alone', () => {
  it('work with no Temporal running, and say the same as each other', async () => {
    const outDir = path.join(await tempDir(), 'out');
    const usage = { gpuSeconds: 685, estimatedCostUsd: 0.47539, costBasis: 'seed-table', backendSeconds: 7.4, backend: 'cpu' } as const;
    const none = { gpuSeconds: 0, estimatedCostUsd: 0, costBasis: 'measured' } as const;
    const report = CatalogReport.parse({
      catalogId: 'example',
      catalogPath: await exampleCatalog(),
      outDir,
      generatedAt: new Date().toISOString(),
      counts: { done: 5, reused: 0, failed: 1, cancelled: 0, invalid: 0, not_converted: 0 },
      usage,
      rows: [
        { row: 1, sku: 'MUG-TEAL-350', status: 'done', glbs: {}, usage },
        { row: 2, sku: 'SNEAKER-RUN-42', status: 'failed', error: 'image_unreadable: sneaker.png is not an image', glbs: {}, usage: none },
      ],
      problems: [],
    });
    fs.mkdirSync(path.join(outDir, 'example'), { recursive: true });
    fs.writeFileSync(path.join(outDir, 'example', 'report.json'), JSON.stringify(report));
    const temporalDown = { TEMPORAL_ADDRESS: `127.0.0.1:${await closedPort()}` };

    const [shown, status, json] = await Promise.all([
      runCli(['report', 'example', '--out', outDir], temporalDown),
      runCli(['status', 'example', '--out', outDir], temporalDown),
      runCli(['report', 'example', '--out', outDir, '--json'], temporalDown),
    ]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('Catalog example completed (some failed): 5 done, 0 reused, 1 failed, 0 cancelled.');
    expect(shown.stdout).toContain(`\n${describeUsage(report.usage)}\n`);
    expect(shown.stdout).toContain('GPU work on an A100 ≈ 685 s ≈ $0.48 (ran on the local CPU backend in 7.4 s)');
    expect(shown.stdout).toContain('row 2 SNEAKER-RUN-42: failed: image_unreadable: sneaker.png is not an image');
    // status says what report says (its first lines), although Temporal is down.
    expect(status.code, status.stderr).toBe(0);
    expect(shown.stdout.startsWith(status.stdout.trimEnd())).toBe(true);
    // The JSON keeps full precision for programs.
    expect(JSON.parse(json.stdout).usage.estimatedCostUsd).toBe(0.47539);
  }, 30_000);
});
