// The `trellis` binary's error paths, end to end: exit codes and what the user reads. Each case is a
// fresh `node --import tsx` process (~1.5 s of CPU to start), so they run concurrently.
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { closedPort, exampleCatalog, runCli, tempDir } from './helpers';

describe.concurrent('trellis CLI', () => {
  // The unreachable-Temporal case spends most of its time waiting out the client's connect timeout.
  // It starts first; the others wait a moment so its start-up is not starved of CPU on small machines
  // (this only affects how long the file takes, never what it checks).
  let headStart: Promise<void>;
  beforeAll(() => {
    headStart = delay(1500);
  });

  it('convert without a reachable Temporal exits 2 with "Cannot reach Temporal at <address>" and what to do', async () => {
    const csv = await exampleCatalog();
    const port = await closedPort();
    const run = await runCli(['convert', csv, '--out', path.join(path.dirname(csv), 'out')], { TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`^trellis: Cannot reach Temporal at 127\\.0\\.0\\.1:${port} \\(namespace default\\): `));
    expect(run.stderr).toContain('Start a local one with `npm run trellis -- dev`, or point TEMPORAL_ADDRESS');
    expect(run.stdout).toBe('');
  }, 20_000);

  it('--help prints the usage and exits 0', async () => {
    await headStart;
    const run = await runCli(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('usage: trellis <command> [options]');
    expect(run.stdout).toContain('convert <catalog> --out DIR');
    expect(run.stderr).toBe('');
  }, 20_000);

  it('an unknown command exits 2 and names it', async () => {
    await headStart;
    const run = await runCli(['frobnicate']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^trellis: unknown command "frobnicate"\n/);
    expect(run.stderr).toContain('usage: trellis <command>');
  }, 20_000);

  it('convert with a missing catalog file exits 2 and names the file, before contacting Temporal', async () => {
    await headStart;
    const missing = path.join(await tempDir(), 'spring-2026.csv');
    const run = await runCli(['convert', missing, '--out', path.join(path.dirname(missing), 'out')], {
      TEMPORAL_ADDRESS: '127.0.0.1:1',
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `trellis: catalog file ${missing} does not exist; check the path (a catalog is a .csv/.xlsx/.json/.jsonl/.ndjson file or a folder of images).\n`,
    );
  }, 20_000);

  it('convert with an unknown option exits 2 with a one-line reason, not a stack trace', async () => {
    await headStart;
    const run = await runCli(['convert', 'c.csv', '--out', 'o', '--colour', 'red']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^trellis: Unknown option '--colour'/);
    expect(run.stderr).not.toContain('    at ');
  }, 20_000);

  it('resume --max-cost must be a positive amount; pause takes no budget', async () => {
    await headStart;
    const bad = await runCli(['resume', 'spring', '--max-cost', 'lots'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^trellis: --max-cost must be a positive amount in USD \(got "lots"\)/);
    const pause = await runCli(['pause', 'spring', '--max-cost', '5'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(pause.code).toBe(2);
    expect(pause.stderr).toMatch(/^trellis: Unknown option '--max-cost'/);
  }, 20_000);
});

// Not concurrent: the temp-folder helper clears every folder after each test, including a running neighbour's.
describe('trellis estimate', () => {
  it('estimate prints rows, work, GPU seconds and cost without Temporal or a service', async () => {
    const csv = await exampleCatalog();
    const run = await runCli(['estimate', csv, '--out', path.join(path.dirname(csv), 'out'), '--presets', 'fast', '--pipeline', '512', '--json'], {
      TEMPORAL_ADDRESS: '127.0.0.1:1',
    });
    expect(run.code, run.stderr).toBe(0);
    const estimate = JSON.parse(run.stdout);
    // Seed table: generation 10 s (512) or 30 s (the bottle's own 1024_cascade); GLBs fast 15 s, balanced
    // 30 s, quality 45 s (rows may name their presets); one 135 s cold start; $0.000694/s.
    expect(estimate).toMatchObject({ catalogId: 'shop', rows: 6, doneRows: 0, generations: 6, extractions: 8, coldStart: true, checkedOutputs: true });
    expect(estimate.usage.gpuSeconds).toBe(25 + (25 + 30) + 25 + (30 + 15) + (25 + 45) + 25 + 135);
    expect(estimate.usage.estimatedCostUsd).toBeCloseTo(estimate.usage.gpuSeconds * 0.000694, 6);
    // A GPU that is already warm saves the cold start, and the estimate says what that leaves.
    expect(estimate.warmUsage.gpuSeconds).toBe(estimate.usage.gpuSeconds - 135);
  }, 20_000);

  it('estimate in words: the same sentence as the run, at A100 rates, to the cent', async () => {
    const csv = await exampleCatalog();
    const run = await runCli(['estimate', csv, '--out', path.join(path.dirname(csv), 'out'), '--presets', 'fast', '--pipeline', '512']);
    expect(run.code, run.stderr).toBe(0);
    // (25 + 55 + 25 + 45 + 70 + 25) s of work + 135 s cold start = 380 s at $0.000694/s.
    expect(run.stdout).toContain('Estimate: GPU work on an A100 ≈ 380 s ≈ $0.26 — incl. $0.09 for one cold start; $0.17 on a GPU that is already warm');
  }, 20_000);

  it('with --channels, every row also pays for the channels\' source preset (balanced), rows with their own presets too', async () => {
    const csv = await exampleCatalog();
    const run = await runCli(['estimate', csv, '--presets', 'fast', '--pipeline', '512', '--channels', 'web,amazon', '--json'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(run.code, run.stderr).toBe(0);
    const estimate = JSON.parse(run.stdout);
    // 6 rows x (fast + balanced), and the chair's own quality.
    expect(estimate).toMatchObject({ rows: 6, generations: 6, extractions: 13 });
  }, 20_000);
});
